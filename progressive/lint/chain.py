"""A rollout as a chain of analysis ticks: its stages, and the exact odds for a good release.

Used by progressive/lint/report.py (and montecarlo.py, which shares the stages); tests/lint/
checks `no_data_chain` against a seeded request-level simulation of the same engine rules
(SEMANTICS.md §4, §9, §10):

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
canary is reachable only at its own address; mirrorWeight% with `mirror`) + the switch at
100%; A/B: `iterations` stages at the share of requests that match. Load sent straight to the canary (`canary_rps`, a load
tester started by a rollout hook) starts with the first analysis tick's hooks, so the first
check does not see it yet.

Consecutive windows overlap when a window is longer than the interval: a check that saw no
request makes an empty window at the next tick more likely, so ticks are not independent given
the weight. For a release without errors (E = 0) every check fails only on no data, so only
the shortest window W that fails on no data matters, and the past is summed up exactly by one
number: `d`, how many ticks (this one included) the latest canary request stays inside W.
With W = q*I + r (0 < r <= I), a new interval at rate λ sets d to q+1 if a request falls in its
last r seconds (probability 1 - e^(-λr)), else to max(d-1, q) if one falls in its first I-r
seconds, else to max(d-1, 0); a check fails when d = 0. `no_data_chain` is dynamic programming
over (stage, failedChecks, d): exact, no sampling. With a metrics lag u (model.py) the same
holds on intervals shifted by u, whose first u seconds still run at the previous rate; the
result is averaged over the scrape phases u (a midpoint rule, model.lag_phases). Errors (E > 0) need the request and error
counts of every overlapping part, which is what montecarlo.py simulates.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from progressive.lint.model import lag_phases, window_mean
from progressive.model.types import CanarySpec, Strategy

FIRST_ANALYSIS_TICK = 3


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
    metrics_lag_s: float = 0.0  # newest seconds a query may not see yet (scrape + evaluation)


def stages(spec: CanarySpec, traffic: Traffic) -> list[Stage]:
    a = spec.analysis
    if spec.skip_analysis:
        return []
    strategy = a.strategy
    mirror = a.mirror_weight / 100.0 if a.mirror else 0.0
    if strategy is Strategy.BLUE_GREEN:
        n = a.iterations
        return ([Stage(f"iteration {i}/{n}", 0, mirror) for i in range(1, n + 1)]
                + [Stage("switch", 100, 1.0)])
    if strategy is Strategy.AB_TESTING:
        share = traffic.match_share or 0.0
        n = a.iterations
        return [Stage(f"iteration {i}/{n}", 100, share) for i in range(1, n + 1)]
    out = [Stage("mirror", 0, mirror)] if a.mirror else []
    return out + [Stage(f"weight {w}%", w, w / 100.0) for w in a.weight_sequence()]


def interval_rate(stage_index: int, interval_tick: int, plan: list[Stage], traffic: Traffic
                  ) -> float:
    """Canary req/s during the interval ending at `interval_tick` (stage -1: before analysis)."""
    share = plan[stage_index].share if stage_index >= 0 else 0.0
    direct = traffic.canary_rps if interval_tick > FIRST_ANALYSIS_TICK else 0.0
    return traffic.rps * share + direct


def nominal_history(stage: int, length: int) -> tuple[int, ...]:
    """Stages of the last `length` intervals when `stage` was reached with no failure."""
    return tuple(max(-1, stage - j) for j in range(length))


def rates_back(tick: int, history: tuple[int, ...], plan: list[Stage], traffic: Traffic
               ) -> list[float]:
    """Canary req/s in the intervals before `tick`, most recent first."""
    return [interval_rate(s, tick - j, plan, traffic) for j, s in enumerate(history)]


def first_check_means(spec: CanarySpec, traffic: Traffic, stage: int, window_s: float
                      ) -> list[float]:
    """Expected requests in the window of the first check at `stage` (every earlier check
    passed), one figure per scrape phase."""
    plan = stages(spec, traffic)
    tick = FIRST_ANALYSIS_TICK + stage
    rates = rates_back(tick, nominal_history(stage, tick - 1), plan, traffic)
    return [window_mean(window_s, spec.analysis.interval_s, rates, u)
            for u in lag_phases(traffic.metrics_lag_s)]


@dataclass
class ChainResult:
    p_promoted: float = 0.0
    p_rolled_back: float = 0.0
    promoted_failures: float = 0.0  # E[failedChecks at promotion] * P(promoted)
    rollback_ticks: float = 0.0  # E[tick of the rollback] * P(rolled back)
    method: str = "exact"  # or "monte-carlo"
    runs: int = 0  # Monte Carlo runs (0 when exact)
    seed: int | None = None
    failures_at_promotion: dict[int, float] = field(default_factory=dict)

    @property
    def mean_failures_if_promoted(self) -> float:
        return self.promoted_failures / self.p_promoted if self.p_promoted > 0 else 0.0

    @property
    def mean_rollback_tick(self) -> float:
        return self.rollback_ticks / self.p_rolled_back if self.p_rolled_back > 0 else math.nan

    def promote(self, mass: float, failed: int) -> None:
        self.p_promoted += mass
        self.promoted_failures += mass * failed
        self.failures_at_promotion[failed] = self.failures_at_promotion.get(failed, 0.0) + mass

    def roll_back(self, mass: float, tick: int) -> None:
        self.p_rolled_back += mass
        self.rollback_ticks += mass * tick

    def add(self, other: ChainResult, weight: float) -> None:
        """Mix in `other` (e.g. one scrape phase) with probability `weight`."""
        self.p_promoted += weight * other.p_promoted
        self.p_rolled_back += weight * other.p_rolled_back
        self.promoted_failures += weight * other.promoted_failures
        self.rollback_ticks += weight * other.rollback_ticks
        self.runs += other.runs
        for f, p in other.failures_at_promotion.items():
            self.failures_at_promotion[f] = self.failures_at_promotion.get(f, 0.0) + weight * p


def no_data_window(spec: CanarySpec) -> float | None:
    """The shortest window whose emptiness fails the tick (None: no check fails on no data)."""
    windows = [m.interval_s for m in spec.analysis.metrics if m.on_no_data != "pass"]
    return min(windows) if windows else None


def no_data_chain(spec: CanarySpec, traffic: Traffic) -> ChainResult:
    """Exact P(promotion) / P(rollback) of a release with no errors (module docstring)."""
    phases = lag_phases(traffic.metrics_lag_s)
    result = ChainResult()
    for u in phases:
        result.add(_no_data_chain(spec, traffic, u), 1.0 / len(phases))
    return result


def _no_data_chain(spec: CanarySpec, traffic: Traffic, lag: float) -> ChainResult:
    """One scrape phase: every check sees (t - lag - W, t - lag], so the chain runs on
    intervals shifted by `lag`, whose first `lag` seconds still carry the previous rate."""
    a = spec.analysis
    plan = stages(spec, traffic)
    threshold = max(1, a.threshold)
    result = ChainResult()
    window = no_data_window(spec)
    if not plan or window is None:
        result.promote(1.0, 0)
        return result
    interval = a.interval_s
    q = max(0, math.ceil(window / interval - 1e-9) - 1)
    shape = (q, window - q * interval, interval, lag)
    frontier: dict[tuple[int, int, int], float] = defaultdict(float)
    for d, p in _arrivals(0, 0.0, interval_rate(0, FIRST_ANALYSIS_TICK, plan, traffic), shape):
        frontier[(0, 0, d)] += p
    tick = FIRST_ANALYSIS_TICK
    while frontier:
        nxt: dict[tuple[int, int, int], float] = defaultdict(float)
        for (stage, failed, d), mass in frontier.items():
            if d > 0:
                if stage == len(plan) - 1:
                    result.promote(mass, failed)
                    continue
                stage_after, failed_after = stage + 1, failed
            else:
                if failed + 1 >= threshold:
                    result.roll_back(mass, tick + 1)
                    continue
                stage_after, failed_after = stage, failed + 1
            before = interval_rate(stage, tick, plan, traffic)
            after = interval_rate(stage_after, tick + 1, plan, traffic)
            for d_after, p in _arrivals(d, before, after, shape):
                nxt[(stage_after, failed_after, d_after)] += mass * p
        frontier = nxt
        tick += 1
    return result


def _arrivals(d: int, before: float, after: float, shape: tuple[float, float, float, float]):
    """(d after one more shifted interval, probability): see the module docstring.

    The shifted interval runs `lag` seconds at rate `before`, then the rest at `after`;
    its last r seconds decide whether the window that reaches furthest back sees a request.
    """
    q, r, interval, lag = shape

    def expected(lo: float, hi: float) -> float:  # seconds from the shifted interval's start
        return (before * max(0.0, min(hi, lag) - lo)
                + after * max(0.0, hi - max(lo, lag)))

    none_last = math.exp(-expected(interval - r, interval))
    none_first = math.exp(-expected(0.0, interval - r))
    out = [(q + 1, 1.0 - none_last),
           (max(d - 1, q), none_last * (1.0 - none_first)),
           (max(d - 1, 0), none_last * none_first)]
    return [(d_after, p) for d_after, p in out if p > 0.0]
