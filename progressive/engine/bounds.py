"""What a healthy rollout of a spec looks like, tick by tick, and how long things may take.

Pure functions of the spec, written from SEMANTICS.md (not from the engine's code), so that
the suites, the lint and `run_until_done` can state expectations and derive wait bounds
without reaching into the engine; the engine's unit tests check that both agree.

Ticks are counted from the tick that detects the new revision (phase Progressing, weight 0).
With a fake clock every tick is exactly one `interval` apart.
"""

from __future__ import annotations

from typing import NamedTuple

from progressive.engine.state import Phase
from progressive.model.types import CanarySpec, Strategy


class ExpectedTick(NamedTuple):
    phase: Phase
    canary_weight: int


def expected_ticks(spec: CanarySpec) -> list[ExpectedTick]:
    """(phase, canaryWeight) after each tick of a healthy rollout, detection to Succeeded.

    Healthy: canary and primary ready at once, every check and gate passes.
    """
    a = spec.analysis
    P = Phase.PROGRESSING
    ticks = [ExpectedTick(P, 0)]  # detect: canary scaled up, analysis starts next tick
    if spec.skip_analysis:
        return ticks + [ExpectedTick(Phase.SUCCEEDED, 0)]
    strategy = a.strategy
    if strategy is Strategy.CANARY:
        weight = 0
        if a.mirror:  # pre-rollout + mirror at weight 0; analysis on mirrored traffic + step
            ticks.append(ExpectedTick(P, 0))
        while weight < a.effective_max_weight():
            weight = a.next_weight(weight)  # the first of these ticks runs pre-rollout
            ticks.append(ExpectedTick(P, weight))
    elif strategy is Strategy.BLUE_GREEN:
        weight = 100
        ticks += [ExpectedTick(P, 0)] * a.iterations  # tick 1 pre-rollout, 2..N analysis
        ticks.append(ExpectedTick(P, 100))  # N+1: analysis passes, all traffic switched
    else:  # A/B: each iteration routes the matching requests to the canary
        weight = 100
        ticks += [ExpectedTick(P, 100)] * a.iterations
    ticks.append(ExpectedTick(Phase.PROMOTING, weight))  # analysis passes: promote
    step = a.step_weight_promotion
    canary = weight
    while canary > 0:  # each tick once the promoted primary is ready
        canary = max(0, canary - step) if step > 0 else 0
        ticks.append(ExpectedTick(Phase.PROMOTING if canary else Phase.FINALISING, canary))
    ticks.append(ExpectedTick(Phase.SUCCEEDED, 0))  # canary scaled to zero
    return ticks


def rollout_bounds(spec: CanarySpec, *, readiness_ticks: int = 2) -> tuple[float, float]:
    """(min, max) seconds from a new revision landing on the target to Succeeded.

    min: the fake-clock duration from the detection tick to Succeeded. max adds one interval
    (the revision may land just after a tick) and `readiness_ticks` intervals in which a healthy
    rollout may wait for the canary and for the promoted primary to become ready.
    """
    interval = spec.analysis.interval_s
    n = len(expected_ticks(spec)) - 1
    return n * interval, (n + 1 + readiness_ticks) * interval


def rollback_bound(spec: CanarySpec) -> float:
    """Seconds from the first failing check to routes 100/0, when every check fails.

    The N-th consecutive failure is N-1 intervals after the first and the rollback happens at
    the start of the next tick: threshold x interval; one more interval for the tick in which
    the failure shows.
    """
    a = spec.analysis
    return (max(1, a.threshold) + 1) * a.interval_s


def progress_deadline_bound(spec: CanarySpec) -> float:
    """Seconds from detection to the rollback of a canary that never becomes ready."""
    return spec.progress_deadline_s + spec.analysis.interval_s


def run_bound(spec: CanarySpec) -> float:
    """Clock time `Engine.run_until_done` allows before it gives up: a healthy rollout, plus
    `threshold` failed ticks, plus a progress deadline each for the canary and the primary."""
    a = spec.analysis
    return (rollout_bounds(spec)[1] + max(1, a.threshold) * a.interval_s
            + 2 * spec.progress_deadline_s)
