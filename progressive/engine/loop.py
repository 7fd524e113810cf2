"""The bundled engine's analysis loop: one `tick()` per analysis interval (SEMANTICS.md §4-§10).

Called by the bundled EngineUnderTest (engines/bundled.py) and the CLI's `rollout`; tested tick
by tick with fakes at the seams (tests/engine/). The engine never reads the wall clock or
sleeps by itself (injected Clock), and talks only to its seams: Router, MetricsProvider,
Workloads, the webhook caller, a StateStore and an EventLog.

Workloads, as in Flagger:
- `spec.target` (e.g. `croc-hunter`) is where a user deploys a new revision; it holds the
  desired AppVersion and its hash but, once initialised, runs no replicas.
- Initialisation (once): `<target>-primary` is created from the target's AppVersion with the
  target's replica count; when the primary is ready the route is created at 100/0 and the
  target is scaled to zero (its replica count is kept in the state).
- A new revision (target hash != lastAppliedSpec and != lastPromotedSpec) is deployed as
  `<target>-canary` with the target's replica count (if the user gave the target replicas,
  that count is used and the target goes back to zero).
- Promotion copies the canary's AppVersion to the primary, keeping the primary's replicas; the
  canary is scaled to zero when the rollout ends (Succeeded, or Failed by a rollback).

Time scale: the engine runs the spec it is given. To run a production spec faster, pass
`spec.scaled(factor)` (every interval, window, timeout and the progress deadline scaled).

Decisions where SEMANTICS leaves room (documented in the tests as well):
- a revision change during Progressing/WaitingPromotion restarts the analysis even when the
  new hash is the promoted one (the canary must not keep running what the user replaced);
  outside a run, a revert to lastPromotedSpec starts nothing;
- "primary failed for good" rolls back only an active run; otherwise the engine waits;
- during Promoting/Finalising the primary's deadline counts from the promotion; when it
  passes (or the workload says failed for good) all traffic goes to the canary, which keeps
  running, and the phase is Failed (Flagger 1.44);
- the state's canaryWeight is the canary's share of the route as set: 100 in A/B (for the
  matching requests) and after a blue-green switch.
- in Finalising (all traffic already on the promoted primary) the canary's readiness is not
  checked any more: a canary that dies then cannot turn a finished promotion into Failed;
- router errors end the tick without a state change (retried next tick); any other error of
  a seam is raised after the state was saved and a `wait` event recorded.
"""

from __future__ import annotations

import dataclasses
import math

from progressive.clock import Clock
from progressive.engine.bounds import run_bound
from progressive.engine.checks import Checks
from progressive.engine.events import EventLog
from progressive.engine.state import ACTIVE_PHASES, CanaryState, Phase, StateStore
from progressive.engine.strategies import Move, Promote, next_move, promotion_move
from progressive.engine.webhooks import call_webhook
from progressive.errors import InvalidSpec
from progressive.metrics.base import MetricsProvider
from progressive.metrics.builtin import query_for as builtin_query_for
from progressive.model.types import CanarySpec, HookType, Strategy
from progressive.routing.base import Router, RouterError, Routes
from progressive.workloads.base import AppVersion, Workloads

RUN_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})  # analysis is running
NEW_REVISION_PHASES = frozenset({Phase.INITIALIZED, Phase.WAITING, Phase.SUCCEEDED, Phase.FAILED})
PROMOTION_PHASES = frozenset({Phase.PROMOTING, Phase.FINALISING})


class RolloutTimeout(TimeoutError):
    """run_until_done passed the bound derived from the spec (e.g. a gate never approved)."""


def next_tick_at(scheduled: float, now: float, interval: float) -> float:
    """When the tick after the one `scheduled` then runs, asked at `now` once it ended: one
    interval on, on the same grid. Slots a long tick ran past (a promotion waiting for the
    primary's new replicas) are dropped, not run back to back, so that every weight a tick
    sets is held for an interval, as a controller's ticker gives it."""
    following = scheduled + interval
    if now > following:
        following += math.ceil((now - following) / interval) * interval
    return following


class Engine:
    def __init__(
        self,
        spec: CanarySpec,
        router: Router,
        metrics: MetricsProvider,
        workloads: Workloads,
        clock: Clock,
        store: StateStore,
        events: EventLog,
        *,
        hooks=None,
        query_for=None,
    ):
        a = spec.analysis
        if a.strategy is Strategy.CANARY and not spec.skip_analysis:
            if a.step_weight <= 0 and not a.step_weights:
                raise InvalidSpec(f"canary {spec.name}", [
                    "spec.analysis: needs stepWeight, stepWeights or iterations to make progress"])
        self.spec = spec
        self.router = router
        self.workloads = workloads
        self.clock = clock
        self.store = store
        self.events = events
        self.checks = Checks(spec, metrics, hooks or call_webhook,
                             query_for or builtin_query_for, self._emit)
        self._state: CanaryState | None = None
        self._message = ""

    # -- public -----------------------------------------------------------------------------

    @property
    def state(self) -> CanaryState | None:
        return dataclasses.replace(self._state) if self._state else None

    def tick(self) -> CanaryState:
        """One analysis step; the state is saved and a `tick` event recorded, whatever happens."""
        if self._state is None:
            self._state = self.store.load(self.spec.namespace, self.spec.name) or CanaryState(
                self.spec.name, self.spec.namespace, last_transition_time=self.clock.now())
        st = self._state
        self._message = "nothing to do"
        try:
            self._advance(st)
        except RouterError as exc:
            self._emit("wait", f"router error, retrying next tick: {exc}")
        except Exception as exc:
            self._emit("wait", f"tick failed: {exc!r}")
            raise
        finally:
            st.message = self._message
            st.last_tick_time = self.clock.now()
            self.store.save(st)
            self.events.record(self.clock.now(), st, "tick", st.message)
        return dataclasses.replace(st)

    def run_until_done(self, max_ticks: int | None = None) -> CanaryState:
        """Tick once per interval (fixed rate) until no rollout is active any more.

        Returns the state after the last tick: Succeeded / Failed for a rollout that ran, or the
        idle phase when there was nothing to roll out. Raises RolloutTimeout past
        `bounds.run_bound(spec)` of clock time (a gate that never approves, a stuck readiness).
        """
        interval = self.spec.analysis.interval_s
        start = self.clock.now()
        deadline = start + run_bound(self.spec)
        saved = self._state or self.store.load(self.spec.namespace, self.spec.name)
        last = saved.last_tick_time if saved is not None else None
        next_at = start if last is None else max(start, last + interval)  # resumed: keep the pace
        self.clock.sleep(max(0.0, next_at - start))
        ticks = 0
        while True:
            st = self.tick()
            ticks += 1
            if st.phase not in ACTIVE_PHASES and st.phase is not Phase.INITIALIZING:
                return st
            if max_ticks is not None and ticks >= max_ticks:
                return st
            if self.clock.now() >= deadline:
                raise RolloutTimeout(
                    f"canary {self.spec.name} still {st.phase.value} after "
                    f"{self.clock.now() - start:.1f}s (bound from the spec: {deadline - start:.1f}s); "
                    f"last: {st.message}")
            next_at = next_tick_at(next_at, self.clock.now(), interval)
            self.clock.sleep(max(0.0, next_at - self.clock.now()))

    # -- the tick, in SEMANTICS §4 order ----------------------------------------------------

    def _advance(self, st: CanaryState) -> None:
        spec, wl = self.spec, self.workloads
        if st.phase is Phase.INITIALIZING and not self._initialise(st):
            return
        target_hash = wl.spec_hash(spec.target)
        if target_hash is None:
            self._emit("wait", f"target {spec.target} not found")
            return
        if st.phase not in ACTIVE_PHASES:
            if target_hash == st.last_promoted_spec and target_hash != st.last_applied_spec:
                st.last_applied_spec = target_hash
                self._emit("wait", f"target back at the promoted revision {target_hash}: "
                                   "nothing to roll out")
            if target_hash in (st.last_applied_spec, st.last_promoted_spec):
                return
        if not spec.skip_analysis and not self._primary_ready(st):
            return
        routes = self.router.get_routes(spec)
        self._observe(st, routes)
        if st.phase in NEW_REVISION_PHASES:
            self._start_rollout(st, target_hash)
            return
        if st.phase in RUN_PHASES and target_hash != st.last_applied_spec:
            self._restart(st, target_hash)
            return
        if st.phase is not Phase.FINALISING and not self._canary_ready(st):
            return
        if spec.skip_analysis:
            self._promote_at_once(st)
            return
        if st.phase in RUN_PHASES:
            who = self.checks.rollback_requested(st.phase.value, st.last_applied_spec)
            if who:
                self._rollback(st, f"manual rollback requested by the rollback hook {who}")
                return
        if st.phase is Phase.PROMOTING:
            self._shift_to_primary(st, routes)
            return
        if st.phase is Phase.FINALISING:
            self._succeed(st)
            return
        threshold = max(1, spec.analysis.threshold)
        if st.failed_checks >= threshold:
            self._rollback(st, f"failed checks threshold reached: {st.failed_checks}/{threshold}")
            return
        if not self._analysis_passes(st, routes):
            st.failed_checks += 1
            self._message = f"{self._message} (failed checks {st.failed_checks}/{threshold})"
            return
        self._advance_strategy(st, routes)

    def _initialise(self, st: CanaryState) -> bool:
        spec, wl = self.spec, self.workloads
        app = wl.app(spec.target)
        if app is None:
            self._emit("wait", f"target {spec.target} not found")
            return False
        self._record_target_replicas(st)
        if wl.replicas(spec.target) == 0 and wl.spec_hash(spec.primary_name) is not None:
            st.target_replicas = max(1, wl.replicas(spec.primary_name))  # re-adopting a primary
        if wl.spec_hash(spec.primary_name) is None:
            wl.deploy(spec.primary_name, app, st.target_replicas)
            self._emit("initialize", f"created {spec.primary_name} from {spec.target} "
                                     f"({app.version}, {st.target_replicas} replicas)")
        ready = wl.is_ready(spec.primary_name)
        if not ready.ready:
            self._emit("wait", f"{spec.primary_name} not ready: {ready.reason}")
            return False
        self.router.reconcile(spec)
        self.router.set_routes(spec, 100, 0, False)
        self._observe(st, Routes(100, 0, False))
        wl.scale(spec.target, 0)
        st.last_applied_spec = st.last_promoted_spec = wl.spec_hash(spec.primary_name)
        st.set_phase(Phase.INITIALIZED, self.clock.now())
        self._emit("initialize", f"initialization done: all traffic on {spec.primary_name}, "
                                 f"{spec.target} scaled to zero")
        return True

    def _primary_ready(self, st: CanaryState) -> bool:
        ready = self.workloads.is_ready(self.spec.primary_name)
        if ready.ready:
            return True
        now = self.clock.now()
        name = self.spec.primary_name
        if st.phase in PROMOTION_PHASES:
            waited = now - (st.promoting_since if st.promoting_since is not None else now)
            if not ready.retriable or waited >= self.spec.progress_deadline_s:
                self._promotion_failed(st, f"{name} not ready after {waited:.0f}s of promotion "
                                           f"({ready.reason})")
                return False
        elif not ready.retriable and st.phase in RUN_PHASES:
            self._rollback(st, f"{name} failed: {ready.reason}")
            return False
        self._emit("wait", f"{name} not ready: {ready.reason}")
        return False

    def _canary_ready(self, st: CanaryState) -> bool:
        ready = self.workloads.is_ready(self.spec.canary_name)
        now = self.clock.now()
        if ready.ready:
            st.progressing_since = None
            return True
        if st.progressing_since is None:
            st.progressing_since = now
        waited = now - st.progressing_since
        deadline = self.spec.progress_deadline_s
        if not ready.retriable or waited >= deadline:
            self._rollback(st, f"progress deadline exceeded: {self.spec.canary_name} not ready "
                               f"after {waited:.0f}s (deadline {deadline:.0f}s; {ready.reason})")
            return False
        self._emit("wait", f"{self.spec.canary_name} not ready: {ready.reason} "
                           f"(waited {waited:.0f}s of {deadline:.0f}s)")
        return False

    def _analysis_passes(self, st: CanaryState, routes: Routes) -> bool:
        a = self.spec.analysis
        first = routes.canary_weight == 0 and st.iterations == 0 and not (a.mirror and routes.mirrored)
        phase, checksum = Phase.PROGRESSING.value, st.last_applied_spec
        if first:
            self._message = f"starting the analysis of {self.spec.canary_name}"
            return self.checks.hooks_pass(HookType.PRE_ROLLOUT, phase, checksum)
        return (self.checks.hooks_pass(HookType.ROLLOUT, phase, checksum)
                and self.checks.metrics_pass())

    def _advance_strategy(self, st: CanaryState, routes: Routes) -> None:
        move = next_move(self.spec.analysis, routes, st.iterations)
        gate = move.gate
        if gate is not None:
            why = self.checks.gate(gate, Phase.PROGRESSING.value, st.last_applied_spec)
            if why is not None:
                if gate is HookType.CONFIRM_PROMOTION:
                    st.set_phase(Phase.WAITING_PROMOTION, self.clock.now())
                    self._emit("gate_halt", f"waiting for promotion approval: {why}")
                else:
                    self._emit("gate_halt", f"traffic increase halted: {why}")
                return
        if isinstance(move, Promote):
            self._promote(st)
        else:
            self._apply(st, move, routes)
            st.iterations += move.iterations
            self._emit("step", move.why)

    # -- actions ----------------------------------------------------------------------------

    def _start_rollout(self, st: CanaryState, target_hash: str) -> None:
        spec, wl = self.spec, self.workloads
        st.last_applied_spec = target_hash
        why = self.checks.gate(HookType.CONFIRM_ROLLOUT, st.phase.value, target_hash)
        if why is not None:
            st.set_phase(Phase.WAITING, self.clock.now())
            self._emit("gate_halt", f"waiting for rollout approval: {why}")
            return
        app = self._running(spec.target)
        self._record_target_replicas(st)
        wl.deploy(spec.canary_name, app, st.target_replicas)
        self._reset(st)
        st.set_phase(Phase.PROGRESSING, self.clock.now())
        self._emit("new_revision", f"new revision {target_hash} ({app.version}) detected: "
                                   f"{spec.canary_name} scaled up to {st.target_replicas}")

    def _restart(self, st: CanaryState, target_hash: str) -> None:
        spec = self.spec
        self.router.set_routes(spec, 100, 0, False)
        self._observe(st, Routes(100, 0, False))
        app = self._running(spec.target)
        self._record_target_replicas(st)
        self.workloads.deploy(spec.canary_name, app, st.target_replicas)
        st.last_applied_spec = target_hash
        self._reset(st)
        st.set_phase(Phase.PROGRESSING, self.clock.now())
        self._emit("restart", f"revision changed to {target_hash} ({app.version}) during the "
                              "analysis: restarting it")

    def _apply(self, st: CanaryState, move: Move, routes: Routes) -> None:
        if not move.same_as(routes):
            self.router.set_routes(self.spec, move.primary, move.canary, move.mirrored)
        self._observe(st, Routes(move.primary, move.canary, move.mirrored))

    def _promote(self, st: CanaryState) -> None:
        spec = self.spec
        app = self._running(spec.canary_name)
        self.workloads.deploy(spec.primary_name, app)
        st.promoting_since = self.clock.now()
        st.set_phase(Phase.PROMOTING, self.clock.now())
        self._emit("promote", f"copying {spec.canary_name} ({app.version}) to {spec.primary_name}")

    def _shift_to_primary(self, st: CanaryState, routes: Routes) -> None:
        move = promotion_move(self.spec.analysis, routes)
        self._apply(st, move, routes)
        if move.primary >= 100:
            st.set_phase(Phase.FINALISING, self.clock.now())
            self._emit("finalise", f"{move.why}; finalising")
        else:
            self._emit("step", move.why)

    def _succeed(self, st: CanaryState) -> None:
        self.workloads.scale(self.spec.canary_name, 0)
        st.last_promoted_spec = st.last_applied_spec
        st.promoting_since = None
        st.set_phase(Phase.SUCCEEDED, self.clock.now())
        self._emit("succeed", f"promotion completed: {self.spec.canary_name} scaled to zero")
        self.checks.post_rollout(Phase.SUCCEEDED.value, st.last_applied_spec)

    def _promote_at_once(self, st: CanaryState) -> None:
        spec = self.spec
        self.router.set_routes(spec, 100, 0, False)
        self._observe(st, Routes(100, 0, False))
        self._promote(st)
        self._succeed(st)

    def _rollback(self, st: CanaryState, reason: str) -> None:
        self.router.set_routes(self.spec, 100, 0, False)
        self._observe(st, Routes(100, 0, False))
        self.workloads.scale(self.spec.canary_name, 0)
        st.progressing_since = st.promoting_since = None
        st.set_phase(Phase.FAILED, self.clock.now())
        self._emit("rollback", f"rolling back: {reason}")
        self.checks.post_rollout(Phase.FAILED.value, st.last_applied_spec)

    def _promotion_failed(self, st: CanaryState, reason: str) -> None:
        """Flagger 1.44: the promoted primary failed; the canary (same revision) takes it all."""
        self.router.set_routes(self.spec, 0, 100, False)
        self._observe(st, Routes(0, 100, False))
        st.promoting_since = None
        st.set_phase(Phase.FAILED, self.clock.now())
        self._emit("rollback", f"promotion failed: {reason}; all traffic routed to "
                               f"{self.spec.canary_name}, which keeps running")
        self.checks.post_rollout(Phase.FAILED.value, st.last_applied_spec)

    # -- helpers ----------------------------------------------------------------------------

    def _reset(self, st: CanaryState) -> None:
        st.canary_weight, st.primary_weight, st.mirrored = 0, 100, False
        st.failed_checks = st.iterations = 0
        st.progressing_since = self.clock.now()
        st.promoting_since = None

    def _record_target_replicas(self, st: CanaryState) -> None:
        """Keep the target's replica count and scale it (back) to zero once initialised."""
        replicas = self.workloads.replicas(self.spec.target)
        if replicas > 0:
            st.target_replicas = replicas
            if st.phase is not Phase.INITIALIZING:
                self.workloads.scale(self.spec.target, 0)

    @staticmethod
    def _observe(st: CanaryState, routes: Routes) -> None:
        st.primary_weight, st.canary_weight = routes.primary_weight, routes.canary_weight
        st.mirrored = routes.mirrored

    def _running(self, name: str) -> AppVersion:
        """What `name` runs: it exists when a tick gets here (its spec hash was read)."""
        app = self.workloads.app(name)
        if app is None:
            raise RuntimeError(f"workload {name} disappeared during the tick")
        return app

    def _emit(self, action: str, message: str) -> None:
        self._message = message
        if self._state is None:
            raise RuntimeError("an event before the first state was loaded")
        self.events.record(self.clock.now(), self._state, action, message)
