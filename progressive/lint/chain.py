"""A rollout as a chain of analysis ticks: its stages, and the exact odds of promotion.

Used by progressive/lint/report.py; tests/lint/ checks `run_chain` against a seeded Monte
Carlo of the same engine rules. The rules are the bundled engine's (SEMANTICS.md §4, §9, §10):

- tick 1 detects the new revision; tick 2 runs the pre-rollout hooks at weight 0 (no metric
  check) and sets the routing of the first analysis stage; from tick 3 on every tick runs every
  metric check at the current stage. Hooks and gates are assumed to pass.
- A tick whose checks all pass moves to the next stage (a weight step, the next iteration, the
  blue-green switch) or, at the last stage, promotes. A tick with a failing check adds one to
  failedChecks and does not move: the weight holds for another interval.
- failedChecks counts over the whole run; when it reaches `threshold` the rollback happens at
  the start of the next tick.

Stages, with the share of production requests the canary gets while each one's routing holds:
canary: [mirror (mirrorWeight%)] + one per weight; blue-green: `iterations` stages at 0 (the
canary is reachable only at its own address) + the switch at 100%; A/B: `iterations` stages
at the share of requests that match. Load sent straight to the canary (`canary_rps`, a load
tester started by a rollout hook) starts with the first analysis tick's hooks, so the first
check does not see it yet.

The exact computation (dynamic programming, no sampling): the state at the start of a tick is
(stage, failedChecks, the stages in effect during the last m intervals), m = ceil(longest
window / interval). The tick number is 3 + stage + failedChecks (stages counted from 0), so it
need not be stored. A tick's failure probability depends only on that state (model.py), so
the probability mass of each state flows to at most two successors, and every path ends in
promotion or rollback within len(stages) + threshold ticks. States with the same key merge.
When the window spans more than MAX_HISTORY intervals, older intervals are taken at the
lowest stage consistent with the known ones (fewer requests: a cautious guess for no data)
and the result is marked inexact.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from progressive.lint.model import tick_fail_probability, window_mean
from progressive.model.types import CanarySpec, Strategy

FIRST_ANALYSIS_TICK = 3
MAX_HISTORY = 12


@dataclass(frozen=True)
class Stage:
    label: str  # "weight 10%", "mirror", "iteration 3/10", "switch"
    weight: int  # canary weight as routed (100 for A/B iterations and the blue-green switch)
    share: float  # share of production requests reaching the canary, 0..1


@dataclass(frozen=True)
class Traffic:
    rps: float  # production requests per second through the gateway
    canary_rps: float = 0.0  # requests per second sent straight to the canary
    match_share: float | None = None  # A/B: share of requests matching the spec's match


def stages(spec: CanarySpec, traffic: Traffic) -> list[Stage]:
    a = spec.analysis
    if spec.skip_analysis:
        return []
    strategy = a.strategy
    if strategy is Strategy.BLUE_GREEN:
        n = a.iterations
        return ([Stage(f"iteration {i}/{n}", 0, 0.0) for i in range(1, n + 1)]
                + [Stage("switch", 100, 1.0)])
    if strategy is Strategy.AB_TESTING:
        share = traffic.match_share or 0.0
        n = a.iterations
        return [Stage(f"iteration {i}/{n}", 100, share) for i in range(1, n + 1)]
    out = [Stage("mirror", 0, a.mirror_weight / 100.0)] if a.mirror else []
    return out + [Stage(f"weight {w}%", w, w / 100.0) for w in a.weight_sequence()]


def interval_rate(stage_index: int, interval_tick: int, plan: list[Stage], traffic: Traffic
                  ) -> float:
    """Canary req/s during the interval ending at `interval_tick` (stage -1: before analysis)."""
    share = plan[stage_index].share if stage_index >= 0 else 0.0
    direct = traffic.canary_rps if interval_tick > FIRST_ANALYSIS_TICK else 0.0
    return traffic.rps * share + direct


def history_length(spec: CanarySpec) -> int:
    a = spec.analysis
    longest = max((m.interval_s for m in a.metrics), default=a.interval_s)
    return max(1, math.ceil(longest / a.interval_s - 1e-9))


def rates_back(tick: int, history: tuple[int, ...], plan: list[Stage], traffic: Traffic
               ) -> list[float]:
    """Canary req/s in the intervals before `tick`, most recent first."""
    return [interval_rate(s, tick - j, plan, traffic) for j, s in enumerate(history)]


def nominal_history(stage: int, length: int, held: int = 0) -> tuple[int, ...]:
    """Stages of the last intervals when `stage` was reached with no failure, held `held` ticks."""
    hist = [stage] * (held + 1)
    s = stage - 1
    while len(hist) < length:
        hist.append(max(-1, s))
        s -= 1
    return tuple(hist[:length])


@dataclass
class ChainResult:
    p_promoted: float = 0.0
    p_rolled_back: float = 0.0
    promoted_failures: float = 0.0  # E[failedChecks at promotion] * P(promoted)
    rollback_ticks: float = 0.0  # E[tick of the rollback] * P(rolled back)
    exact: bool = True
    states: int = 0  # distinct states visited
    failures_at_promotion: dict[int, float] = field(default_factory=dict)

    @property
    def mean_failures_if_promoted(self) -> float:
        return self.promoted_failures / self.p_promoted if self.p_promoted > 0 else 0.0

    @property
    def mean_rollback_tick(self) -> float:
        return self.rollback_ticks / self.p_rolled_back if self.p_rolled_back > 0 else math.nan


def run_chain(spec: CanarySpec, traffic: Traffic, error_rate: float) -> ChainResult:
    """P(promotion) and P(rollback) of a release with `error_rate` under the engine's rules."""
    a = spec.analysis
    plan = stages(spec, traffic)
    threshold = max(1, a.threshold)
    result = ChainResult()
    if not plan:
        result.p_promoted = 1.0
        result.failures_at_promotion[0] = 1.0
        return result
    length = history_length(spec)
    if length > MAX_HISTORY:
        result.exact = False
        length = MAX_HISTORY
    interval = a.interval_s
    frontier: dict[tuple[int, int, tuple[int, ...]], float] = {
        (0, 0, nominal_history(0, length)): 1.0}
    while frontier:
        nxt: dict[tuple[int, int, tuple[int, ...]], float] = defaultdict(float)
        for (stage, failed, hist), mass in frontier.items():
            result.states += 1
            tick = FIRST_ANALYSIS_TICK + stage + failed
            rates = _extend(rates_back(tick, hist, plan, traffic), hist, tick, plan, traffic,
                            spec, result.exact)
            p_fail = tick_fail_probability(
                a.metrics, lambda w, r=rates: window_mean(w, interval, r), error_rate)
            passed = mass * (1.0 - p_fail)
            if stage == len(plan) - 1:
                result.p_promoted += passed
                result.promoted_failures += passed * failed
                result.failures_at_promotion[failed] = (
                    result.failures_at_promotion.get(failed, 0.0) + passed)
            elif passed > 0:
                nxt[(stage + 1, failed, (stage + 1,) + hist[:-1])] += passed
            failed_mass = mass * p_fail
            if failed + 1 >= threshold:
                result.p_rolled_back += failed_mass
                result.rollback_ticks += failed_mass * (tick + 1)
            elif failed_mass > 0:
                nxt[(stage, failed + 1, (stage,) + hist[:-1])] += failed_mass
        frontier = nxt
    return result


def _extend(rates: list[float], hist: tuple[int, ...], tick: int, plan: list[Stage],
            traffic: Traffic, spec: CanarySpec, exact: bool) -> list[float]:
    """Past the stored history (inexact mode): the lowest stages consistent with it."""
    if exact:
        return rates
    need = history_length(spec)
    s = hist[-1]
    for j in range(len(hist), need):
        s = max(-1, s - 1)
        rates.append(interval_rate(s, tick - j, plan, traffic))
    return rates
