"""Shipper-style staged switchover of an ApplicationSpec (SEMANTICS.md §9, Shipper form).

Called by the bundled engine / CLI for Shipper Applications, and by the blue-green suites.
Only the seams are used: Router.reconcile/set_routes and Workloads.scale/is_ready; the caller
deploys the two releases before the first move (the contender with 0 replicas).

Names (SEMANTICS.md §3): the release is driven through a CanarySpec named after the
application, so the incumbent is `<app>-primary` (the router's primary weight) and the
contender `<app>-canary` (the canary weight).

Moving from the achieved step to another one is four ordered sub-moves:
- forward: contender capacity up, contender traffic up, incumbent traffic down, incumbent
  capacity down;
- backward: incumbent capacity up, incumbent traffic up, contender traffic down, contender
  capacity down.
Stated generally (so that odd step lists stay safe): capacity that grows is added first and
waited for (Workloads.is_ready, bounded by `ready_timeout_s`, default the spec's interval)
before any traffic moves; traffic moves side by side (the side that leads the direction first,
the other side held where it was); capacity that shrinks goes last, after traffic left it.
Sub-moves that would change nothing are skipped. Capacity is `ceil(replicas * pct / 100)`.

Traffic percentages become router weights proportionally, summing to 100 (incumbent 100 /
contender 50 -> 67 / 33). Before the first move the incumbent is assumed to run
`app.replicas` with all traffic and the contender nothing.

A failed move (a release not ready in time or failed for good, the router refusing a change)
leaves the achieved step where it was; `run()` then rolls back to step 0 (phase Failed).

Events go to the engine's EventLog (actions step, wait, rollback, succeed); `iterations` carries the 1-based number of the achieved
step (0: none yet).
"""

from __future__ import annotations

from progressive.clock import Clock
from progressive.engine.events import EventLog
from progressive.engine.state import CanaryState, Phase
from progressive.errors import InvalidSpec
from progressive.model.types import Analysis, ApplicationSpec, CanarySpec, ReleaseStep
from progressive.routing.base import Router, RouterError
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion, Workloads

INCUMBENT = "incumbent"
CONTENDER = "contender"
STEPS_PATH = "spec.template.strategy.steps"
# What runs before the first step: the incumbent with all capacity and traffic.
BEFORE_RELEASE = ReleaseStep("before the release", 100, 100, 0, 0)


def traffic_weights(incumbent_pct: int, contender_pct: int) -> tuple[int, int]:
    """(primary, canary) router weights summing to 100, proportional to the percentages."""
    total = incumbent_pct + contender_pct
    if incumbent_pct < 0 or contender_pct < 0 or total <= 0:
        raise ValueError(f"traffic {incumbent_pct}/{contender_pct} sends nothing anywhere")
    primary = round(100 * incumbent_pct / total)
    return primary, 100 - primary


def check_application(app: ApplicationSpec) -> None:
    """Refuse what the parser refuses, for specs built in code; raises InvalidSpec."""
    problems = []
    if app.replicas < 1:
        problems.append(f"spec.template.values.replicaCount: must be >= 1, got {app.replicas}")
    if not app.interval_s > 0:
        problems.append(f"spec.template.strategy.interval: must be > 0, got {app.interval_s}")
    if not app.steps:
        problems.append(f"{STEPS_PATH}: must list at least one step")
    for i, step in enumerate(app.steps):
        at = f"{STEPS_PATH}[{i}]"
        pcts = {"capacity.incumbent": step.incumbent_capacity,
                "capacity.contender": step.contender_capacity,
                "traffic.incumbent": step.incumbent_traffic,
                "traffic.contender": step.contender_traffic}
        for key, pct in pcts.items():
            if not 0 <= pct <= 100:
                problems.append(f"{at}.{key}: must be between 0 and 100, got {pct}")
        for side in (INCUMBENT, CONTENDER):
            if pcts[f"traffic.{side}"] > 0 and app.capacity(app.replicas,
                                                            pcts[f"capacity.{side}"]) == 0:
                problems.append(f"{at}.traffic.{side}: sends traffic to the {side}, which has "
                                "no capacity")
        if step.incumbent_traffic + step.contender_traffic <= 0:
            problems.append(f"{at}.traffic: sends no traffic to either release")
    if problems:
        raise InvalidSpec(f"Application {app.namespace}/{app.name}", problems)


class ShipperRelease:
    def __init__(
        self,
        app: ApplicationSpec,
        router: Router,
        workloads: Workloads,
        clock: Clock,
        events: EventLog | None = None,
        ready_timeout_s: float | None = None,
    ):
        check_application(app)
        self.app = app
        self.router = router
        self.workloads = workloads
        self.clock = clock
        self.events = events if events is not None else EventLog()
        self.ready_timeout_s = ready_timeout_s if ready_timeout_s is not None else app.interval_s
        self.as_canary = CanarySpec(name=app.name, namespace=app.namespace, target=app.name,
                                    analysis=Analysis(interval_s=app.interval_s))
        self.names = {INCUMBENT: self.as_canary.primary_name,
                      CONTENDER: self.as_canary.canary_name}
        self.state = CanaryState(app.name, app.namespace, phase=Phase.INITIALIZED)
        self.achieved_step: int | None = None
        self.last_error = ""
        self._replicas = {INCUMBENT: app.replicas, CONTENDER: 0}  # as last applied
        self._traffic = {INCUMBENT: 100, CONTENDER: 0}  # percentages as last applied
        self._weights: tuple[int, int] | None = None  # None until the first set_routes
        self._reconciled = False
        self._touched = False  # any move was started

    def begin(self, incumbent: AppVersion, contender: AppVersion) -> None:
        """Deploy the incumbent serving (the application's replicas) and the contender at zero,
        wait for the incumbent to be ready (within `ready_timeout_s`), and route all traffic
        to it: step 0, where `run()` / `advance_to()` start."""
        self.workloads.deploy(self.incumbent, incumbent, replicas=self.app.replicas)
        self.workloads.deploy(self.contender, contender, replicas=0)
        wait_until(lambda: self.workloads.is_ready(self.incumbent).ready,
                   timeout=self.ready_timeout_s, what=f"the incumbent {self.incumbent} to be ready")
        self.router.reconcile(self.as_canary)
        self.router.set_routes(self.as_canary, 100, 0)

    @property
    def incumbent(self) -> str:
        return self.names[INCUMBENT]

    @property
    def contender(self) -> str:
        return self.names[CONTENDER]

    @property
    def last_step(self) -> int:
        return len(self.app.steps) - 1

    # -- moves -------------------------------------------------------------------------------

    def advance_to(self, step_index: int) -> bool:
        """Move to `step_index` (forward or back) by the ordered sub-moves.

        True once the step is achieved; False when a release did not become ready in time or
        the router refused a change: the achieved step stays where it was, and no traffic was
        moved onto capacity that was not ready.
        """
        self._check_index(step_index, "step index")
        current = -1 if self.achieved_step is None else self.achieved_step
        return self._move(self.app.steps[step_index], step_index, step_index >= current,
                          Phase.PROGRESSING)

    def _move(self, step: ReleaseStep, step_index: int | None, forward: bool,
              phase: Phase) -> bool:
        lead, follow = (CONTENDER, INCUMBENT) if forward else (INCUMBENT, CONTENDER)
        target = {INCUMBENT: (self.app.capacity(self.app.replicas, step.incumbent_capacity),
                              step.incumbent_traffic),
                  CONTENDER: (self.app.capacity(self.app.replicas, step.contender_capacity),
                              step.contender_traffic)}
        self.state.set_phase(phase, self.clock.now())
        self._touched = True
        try:
            if not self._reconciled:
                self.router.reconcile(self.as_canary)
                self._reconciled = True
            for side in (lead, follow):
                replicas = target[side][0]
                if replicas > self._replicas[side] and not self._scale(side, replicas):
                    return False
            for side in (lead, follow):
                self._route(side, target[side][1])
            for side in (follow, lead):
                replicas = target[side][0]
                if replicas < self._replicas[side]:
                    self._scale(side, replicas)
        except RouterError as exc:
            self._fail(f"the router refused a change: {exc}")
            return False
        self.achieved_step = step_index
        self.state.iterations = 0 if step_index is None else step_index + 1
        if step_index is None:
            self._record("step", f"back to the state {step.name}")
        elif step_index == self.last_step and phase is Phase.PROGRESSING:
            self.state.set_phase(Phase.SUCCEEDED, self.clock.now())
            self._record("succeed", f"step {step_index} ({step.name}) achieved: the last step")
        else:
            self._record("step", f"step {step_index} ({step.name}) achieved")
        return True

    def rollback(self, reason: str = "rollback requested") -> bool:
        """Back to step 0 in the backward order; phase Failed.

        Before step 0 was ever achieved (its move failed), back to the state before the
        release instead: the contender scaled to zero, all traffic on the incumbent.
        """
        if self.achieved_step is None and not self._touched:
            return True
        self.state.set_phase(Phase.FAILED, self.clock.now())
        if self.achieved_step is None:
            self._record("rollback", f"{reason}: back to the state {BEFORE_RELEASE.name}")
            return self._move(BEFORE_RELEASE, None, False, Phase.FAILED)
        self._record("rollback", f"{reason}: back to step 0 ({self.app.steps[0].name})")
        return self._move(self.app.steps[0], 0, False, Phase.FAILED)

    def run(self, target_step: int | None = None) -> bool:
        """Advance one step per interval until `target_step` (default: the last step).

        Returns True when the target step is achieved (the caller holds there as long as it
        likes); on a failed move, rolls back to step 0 and returns False. A target behind the
        achieved step is reached in one backward move.
        """
        target = self.last_step if target_step is None else target_step
        self._check_index(target, "target step")
        while self.achieved_step != target:
            current = -1 if self.achieved_step is None else self.achieved_step
            nxt = current + 1 if target > current else target
            if not self.advance_to(nxt):
                self.rollback(f"step {nxt} failed: {self.last_error}")
                return False
            if self.achieved_step != target:
                self.clock.sleep(self.app.interval_s)
        return True

    def _check_index(self, index: object, what: str) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not (
            0 <= index <= self.last_step
        ):
            raise ValueError(f"{what} must be 0..{self.last_step}, got {index!r}")

    # -- sub-moves ---------------------------------------------------------------------------

    def _scale(self, side: str, replicas: int) -> bool:
        name = self.names[side]
        before = self._replicas[side]
        self.workloads.scale(name, replicas)
        self._replicas[side] = replicas
        self._record("step", f"{side} capacity {before} -> {replicas} replicas ({name})")
        if replicas > before:
            return self._wait_ready(side)
        return True

    def _wait_ready(self, side: str) -> bool:
        name = self.names[side]
        deadline = self.clock.now() + self.ready_timeout_s
        poll = min(0.5, max(0.01, self.ready_timeout_s / 20))
        while True:
            readiness = self.workloads.is_ready(name)
            if readiness.ready:
                return True
            if not readiness.retriable:
                self._fail(f"{name} failed: {readiness.reason}")
                return False
            if self.clock.now() >= deadline:
                self._fail(f"{name} not ready within {self.ready_timeout_s:g}s: "
                           f"{readiness.reason}")
                return False
            self.clock.sleep(min(poll, max(0.0, deadline - self.clock.now())))

    def _route(self, side: str, pct: int) -> None:
        before = self._traffic[side]
        self._traffic[side] = pct
        if self._traffic[INCUMBENT] + self._traffic[CONTENDER] <= 0:
            return  # an intermediate 0/0: skipped, the other side's move sets the final split
        weights = traffic_weights(self._traffic[INCUMBENT], self._traffic[CONTENDER])
        if weights == self._weights:
            return
        self.router.set_routes(self.as_canary, weights[0], weights[1])
        self._weights = weights
        self.state.primary_weight, self.state.canary_weight = weights
        self._record("step", f"{side} traffic {before}% -> {pct}%: primary {weights[0]} / "
                     f"canary {weights[1]}")

    def _fail(self, message: str) -> None:
        self.last_error = message
        self._record("wait", message)

    def _record(self, action: str, message: str) -> None:
        self.state.message = message
        self.events.record(self.clock.now(), self.state, action, message)
