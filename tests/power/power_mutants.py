"""Deliberately broken variants of the bundled engine: one rule of SEMANTICS.md each.

The suites' power is what they catch of these (bench/bench_power.py). Each mutant is the
bundled engine with one minimal change, made at a seam of the loop (a method, the spec it is
given, the workloads it scales), so that it breaks its rule and, ideally, nothing else.
Registered as engines `mutant:<name>` by power_plugin.py; never part of the product.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from progressive.engine.loop import RUN_PHASES, Engine
from progressive.engine.shipper import CONTENDER, INCUMBENT, ShipperRelease
from progressive.engine.state import Phase
from progressive.engine.strategies import Move
from progressive.model.types import HookType, MetricKind, Strategy


@dataclass(frozen=True)
class Mutant:
    name: str
    rule: str  # the SEMANTICS rule it breaks (progressive/rules.py)
    breaks: str  # how, in a sentence
    loop: type[Engine] = Engine
    releases: type[ShipperRelease] = ShipperRelease


MUTANTS: dict[str, Mutant] = {}


def mutant(name: str, rule: str):
    """Register the decorated Engine (or ShipperRelease) subclass as mutant `name`."""

    def register(cls):
        kind = "releases" if issubclass(cls, ShipperRelease) else "loop"
        MUTANTS[name] = Mutant(name, rule, " ".join((cls.__doc__ or "").split()), **{kind: cls})
        return cls

    return register


# -- mutants of the spec the loop is given --------------------------------------------------


class _SpecChanged(Engine):
    """The loop runs a changed spec; the suites still judge by the one they gave."""

    def __init__(self, spec, *args, **kwargs):
        super().__init__(self.change(spec), *args, **kwargs)

    @staticmethod
    def change(spec):
        return spec


def _analysis(spec, **changes):
    return dataclasses.replace(spec, analysis=dataclasses.replace(spec.analysis, **changes))


@mutant("threshold-plus-one", "4.9")
class ThresholdPlusOne(_SpecChanged):
    """Rolls back one failed check after the threshold."""

    @staticmethod
    def change(spec):
        return _analysis(spec, threshold=spec.analysis.threshold + 1)


@mutant("double-step", "4.11")
class DoubleStep(_SpecChanged):
    """Steps by twice stepWeight."""

    @staticmethod
    def change(spec):
        return _analysis(spec, step_weight=2 * spec.analysis.step_weight)


@mutant("ignores-step-weights", "4.13")
class IgnoresStepWeights(_SpecChanged):
    """Steps by the first of stepWeights instead of walking the list."""

    @staticmethod
    def change(spec):
        a = spec.analysis
        if not a.step_weights:
            return spec
        return _analysis(spec, step_weight=a.step_weights[0], step_weights=(),
                         max_weight=a.step_weights[-1])


@mutant("no-data-passes", "4.14")
class NoDataPasses(_SpecChanged):
    """Counts a check without data as passed."""

    @staticmethod
    def change(spec):
        return _analysis(spec, metrics=tuple(dataclasses.replace(m, on_no_data="pass")
                                             for m in spec.analysis.metrics))


@mutant("promotion-in-one-step", "5.2")
class PromotionInOneStep(_SpecChanged):
    """Ignores stepWeightPromotion: all traffic back to the primary at once."""

    @staticmethod
    def change(spec):
        return _analysis(spec, step_weight_promotion=0)


@mutant("ignores-skip-analysis", "5.3")
class IgnoresSkipAnalysis(_SpecChanged):
    """Runs the analysis although skipAnalysis is set."""

    @staticmethod
    def change(spec):
        return dataclasses.replace(spec, skip_analysis=False)


def _without_metric(spec, kind: MetricKind):
    return _analysis(spec, metrics=tuple(m for m in spec.analysis.metrics if m.kind is not kind))


@mutant("ignores-success-rate", "7.1")
class IgnoresSuccessRate(_SpecChanged):
    """Never evaluates the request-success-rate check."""

    @staticmethod
    def change(spec):
        return _without_metric(spec, MetricKind.REQUEST_SUCCESS_RATE)


@mutant("ignores-duration", "7.2")
class IgnoresDuration(_SpecChanged):
    """Never evaluates the request-duration check."""

    @staticmethod
    def change(spec):
        return _without_metric(spec, MetricKind.REQUEST_DURATION)


@mutant("mirror-off", "10.2")
class MirrorOff(_SpecChanged):
    """Never mirrors traffic to the canary."""

    @staticmethod
    def change(spec):
        return _analysis(spec, mirror=False)


# -- mutants of the workloads the loop scales -----------------------------------------------


class _ScaleIgnored(Engine):
    """The loop's scale-to-zero of one workload, in some phases, does nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.workloads = _IgnoringScale(self.workloads, self)

    def ignores(self, name: str) -> bool:
        return False


class _IgnoringScale:
    def __init__(self, workloads, engine: _ScaleIgnored):
        self._workloads, self._engine = workloads, engine

    def __getattr__(self, attr):
        return getattr(self._workloads, attr)

    def scale(self, name: str, replicas: int) -> None:
        if replicas == 0 and self._engine.ignores(name):
            return
        self._workloads.scale(name, replicas)


def _phase(engine: Engine):
    return engine._state.phase if engine._state is not None else None


@mutant("init-leaves-target-running", "4.1")
class InitLeavesTargetRunning(_ScaleIgnored):
    """Leaves the target's replicas running after initialisation."""

    def ignores(self, name):
        return name == self.spec.target and _phase(self) is Phase.INITIALIZING


@mutant("promotion-keeps-canary", "5.1")
class PromotionKeepsCanary(_ScaleIgnored):
    """Leaves the canary running after a promotion."""

    def ignores(self, name):
        return name == self.spec.canary_name and _phase(self) is Phase.FINALISING


@mutant("rollback-keeps-canary", "6.1")
class RollbackKeepsCanary(_ScaleIgnored):
    """Leaves the canary running after a rollback."""

    def ignores(self, name):
        return name == self.spec.canary_name and _phase(self) in RUN_PHASES


# -- mutants of one step of the tick --------------------------------------------------------


@mutant("ignores-unready-primary", "4.3")
class IgnoresUnreadyPrimary(Engine):
    """Goes on with the analysis while the primary is not ready."""

    def _primary_ready(self, st):
        return True


@mutant("no-restart-on-new-revision", "4.6")
class NoRestartOnNewRevision(Engine):
    """Runs a revision changed mid-analysis on from the current weight, without a restart."""

    def _restart(self, st, target_hash):
        self.workloads.deploy(self.spec.canary_name, self._running(self.spec.target))
        st.last_applied_spec = target_hash
        self._emit("restart", f"revision changed to {target_hash}: carrying on")


@mutant("counts-unready-canary", "4.7")
class CountsUnreadyCanary(Engine):
    """Counts each tick spent waiting for the canary as a failed check."""

    def _canary_ready(self, st):
        ready = super()._canary_ready(st)
        if not ready and st.phase in RUN_PHASES:
            st.failed_checks += 1
        return ready


@mutant("pre-rollout-failure-uncounted", "4.10")
class PreRolloutFailureUncounted(Engine):
    """Ignores a failing pre-rollout hook."""

    def _analysis_passes(self, st, routes):
        passed = super()._analysis_passes(st, routes)
        first = routes.canary_weight == 0 and st.iterations == 0
        return True if first else passed


@mutant("rollout-hook-failure-uncounted", "4.10")
class RolloutHookFailureUncounted(Engine):
    """Calls the rollout hooks but ignores their failures."""

    def _analysis_passes(self, st, routes):
        first = routes.canary_weight == 0 and st.iterations == 0
        if first:
            return super()._analysis_passes(st, routes)
        self.checks.hooks_pass(HookType.ROLLOUT, Phase.PROGRESSING.value, st.last_applied_spec)
        return self.checks.metrics_pass()


@mutant("pass-resets-failures", "4.12")
class PassResetsFailures(Engine):
    """Resets failedChecks when a check passes (counts consecutive failures)."""

    def _analysis_passes(self, st, routes):
        passed = super()._analysis_passes(st, routes)
        if passed:
            st.failed_checks = 0
        return passed


@mutant("promotion-without-copy", "5.1")
class PromotionWithoutCopy(Engine):
    """Routes back to the primary without giving it the new version."""

    def _promote(self, st):
        st.promoting_since = self.clock.now()
        st.set_phase(Phase.PROMOTING, self.clock.now())
        self._emit("promote", "promoting (without copying the canary)")


@mutant("rollback-keeps-routes", "6.1")
class RollbackKeepsRoutes(Engine):
    """Marks Failed but leaves the canary's weight in the router."""

    def _rollback(self, st, reason):
        self.workloads.scale(self.spec.canary_name, 0)
        st.progressing_since = st.promoting_since = None
        st.set_phase(Phase.FAILED, self.clock.now())
        self._emit("rollback", f"rolling back (routes kept): {reason}")


class _GateIgnored(Engine):
    """Every gate of one type passes without being asked."""

    ignored: HookType

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        gate = self.checks.gate
        self.checks.gate = lambda kind, *a: None if kind is self.ignored else gate(kind, *a)


@mutant("ignores-confirm-rollout", "8.1")
class IgnoresConfirmRollout(_GateIgnored):
    """Starts a new revision without asking the confirm-rollout gates."""

    ignored = HookType.CONFIRM_ROLLOUT


@mutant("ignores-confirm-traffic-increase", "8.2")
class IgnoresConfirmTrafficIncrease(_GateIgnored):
    """Steps without asking the confirm-traffic-increase gates."""

    ignored = HookType.CONFIRM_TRAFFIC_INCREASE


@mutant("ignores-confirm-promotion", "8.3")
class IgnoresConfirmPromotion(_GateIgnored):
    """Promotes without asking the confirm-promotion gates."""

    ignored = HookType.CONFIRM_PROMOTION


@mutant("ignores-rollback-hook", "6.2")
class IgnoresRollbackHook(Engine):
    """Never asks the rollback hooks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checks.rollback_requested = lambda *a: None


@mutant("skips-post-rollout", "8.4")
class SkipsPostRollout(Engine):
    """Never calls the post-rollout hooks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checks.post_rollout = lambda *a: None


@mutant("blue-green-leaks-traffic", "9.1")
class BlueGreenLeaksTraffic(Engine):
    """Sends 10% of production traffic to green during the blue-green iterations."""

    def _apply(self, st, move, routes):
        a = self.spec.analysis
        if (a.strategy is Strategy.BLUE_GREEN and move.iterations and move.canary == 0
                and not move.mirrored):
            move = dataclasses.replace(move, primary=90, canary=10)
        super()._apply(st, move, routes)


@mutant("ab-ignores-match", "10.1")
class AbIgnoresMatch(Engine):
    """Keeps the matching requests on the primary during the A/B iterations."""

    def _apply(self, st, move, routes):
        if self.spec.analysis.strategy is Strategy.AB_TESTING and move.canary == 100:
            move = Move(100, 0, move.mirrored, move.why, move.gate, move.iterations)
        super()._apply(st, move, routes)


@mutant("shipper-traffic-before-ready", "9.2")
class ShipperTrafficBeforeReady(ShipperRelease):
    """Moves traffic onto new capacity without waiting for it to be ready."""

    def _wait_ready(self, side):
        return True


@mutant("shipper-capacity-before-traffic-moves", "9.2")
class ShipperCapacityBeforeTrafficMoves(ShipperRelease):
    """Takes capacity away before the traffic it carries has moved off it."""

    def _move(self, step, step_index, forward, phase):
        for side, pct in ((INCUMBENT, step.incumbent_capacity),
                          (CONTENDER, step.contender_capacity)):
            replicas = self.app.capacity(self.app.replicas, pct)
            if replicas < self._replicas[side]:
                self._scale(side, replicas)
        return super()._move(step, step_index, forward, phase)
