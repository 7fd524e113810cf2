"""A rollout as the lint sees it: stages, the canary's request rate over time, window pieces.

Shared by chain.py (exact odds without errors), montecarlo.py (odds with errors) and
report.py (per-step figures). The rules are the bundled engine's (SEMANTICS.md §4, §9, §10):

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
100%; A/B: `iterations` stages at the share of requests that match. Load sent straight to the
canary (`canary_rps`, a load tester started by a rollout hook) starts with the first analysis
tick's hooks, so the first check does not see it yet.

Time as the checks see it: with a metrics lag u every check at tick t sees (t - u - W, t - u],
so the lint works on intervals shifted by u (the shifted interval of tick t is
(t - I - u, t - u]: its first u seconds still run at the previous interval's rate). A
shifted interval is cut into pieces at the points where some window starts (W = q*I + r
starts r seconds before the end of the interval q back) and where the rate changes, so every
window is a union of whole pieces (`Grid`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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
    mirror = a.mirror_weight / 100.0 if a.mirror else 0.0
    if a.strategy is Strategy.BLUE_GREEN:
        n = a.iterations
        return ([Stage(f"iteration {i}/{n}", 0, mirror) for i in range(1, n + 1)]
                + [Stage("switch", 100, 1.0)])
    if a.strategy is Strategy.AB_TESTING:
        n = a.iterations
        share = traffic.match_share or 0.0
        return [Stage(f"iteration {i}/{n}", 100, share) for i in range(1, n + 1)]
    out = [Stage("mirror", 0, mirror)] if a.mirror else []
    return out + [Stage(f"weight {w}%", w, w / 100.0) for w in a.weight_sequence()]


def interval_rate(stage: int, interval_tick: int, plan: list[Stage], traffic: Traffic) -> float:
    """Canary req/s during the interval ending at `interval_tick` (stage -1: before analysis)."""
    share = plan[stage].share if stage >= 0 else 0.0
    direct = traffic.canary_rps if interval_tick > FIRST_ANALYSIS_TICK else 0.0
    return traffic.rps * share + direct


def first_check_means(spec: CanarySpec, traffic: Traffic, stage: int, window_s: float
                      ) -> list[float]:
    """Expected requests in the window of the first check at `stage` when every earlier check
    passed, one figure per scrape phase."""
    plan = stages(spec, traffic)
    tick = FIRST_ANALYSIS_TICK + stage
    rates = [interval_rate(stage - j, tick - j, plan, traffic) for j in range(tick - 1)]
    return [window_mean(window_s, spec.analysis.interval_s, rates, u)
            for u in lag_phases(traffic.metrics_lag_s)]


@dataclass(frozen=True)
class Grid:
    """The pieces of a shifted interval, most recent first, and how windows cover them."""

    lengths: tuple[float, ...]  # seconds
    earlier: tuple[bool, ...]  # the piece still runs at the previous interval's rate
    cover: dict[float, tuple[int, int]]  # window -> (q, k): q whole intervals + k pieces

    def stays(self, window: float) -> tuple[int, ...]:
        """Per piece: for how many ticks (this one included) a request there is in `window`."""
        q, k = self.cover[window]
        return tuple(q + 1 if j < k else q for j in range(len(self.lengths)))


def grid(windows: list[float], interval: float, lag: float) -> Grid:
    ends = {round(interval - lag, 9)} if 0 < lag < interval else set()
    shape = {}
    for w in windows:
        q = max(0, math.ceil(w / interval - 1e-9) - 1)
        r = round(w - q * interval, 9)
        ends.add(r)
        shape[w] = (q, r)
    cuts = sorted(ends | {round(interval, 9)})
    starts = [0.0, *cuts[:-1]]
    return Grid(
        lengths=tuple(c - s for s, c in zip(starts, cuts, strict=True)),
        earlier=tuple(lag > 0 and s >= interval - lag - 1e-9 for s in starts),
        cover={w: (q, cuts.index(r) + 1) for w, (q, r) in shape.items()},
    )


@dataclass
class ChainResult:
    """How rollouts of one release end: odds, failed checks, ticks (from either method)."""

    p_promoted: float = 0.0
    p_rolled_back: float = 0.0
    promoted_failures: float = 0.0  # E[failedChecks at promotion] * P(promoted)
    rollback_ticks: float = 0.0  # E[tick of the rollback] * P(rolled back)
    method: str = "exact"  # or "monte-carlo"
    runs: int = 0  # Monte Carlo runs (0 when exact)
    seed: int | None = None
    # per stage: P(reached) and, per window, P(reached and its first check sees no request)
    reached: dict[int, float] = field(default_factory=dict)
    no_data_on_arrival: dict[tuple[int, float], float] = field(default_factory=dict)

    @property
    def mean_failures_if_promoted(self) -> float:
        return self.promoted_failures / self.p_promoted if self.p_promoted > 0 else 0.0

    @property
    def mean_rollback_tick(self) -> float:
        return self.rollback_ticks / self.p_rolled_back if self.p_rolled_back > 0 else math.nan

    def p_no_data_on_arrival(self, stage: int, window: float) -> float | None:
        """P(the first check at `stage` sees no request in `window` | the rollout got there)."""
        reached = self.reached.get(stage, 0.0)
        return self.no_data_on_arrival.get((stage, window), 0.0) / reached if reached else None

    def promote(self, mass: float, failed: int) -> None:
        self.p_promoted += mass
        self.promoted_failures += mass * failed

    def roll_back(self, mass: float, tick: int) -> None:
        self.p_rolled_back += mass
        self.rollback_ticks += mass * tick

    def add(self, other: ChainResult, weight: float) -> None:
        """Mix in `other` (one scrape phase) with probability `weight`."""
        self.p_promoted += weight * other.p_promoted
        self.p_rolled_back += weight * other.p_rolled_back
        self.promoted_failures += weight * other.promoted_failures
        self.rollback_ticks += weight * other.rollback_ticks
        self.runs += other.runs
        pairs: tuple[tuple[dict[Any, float], dict[Any, float]], ...] = (
            (self.reached, other.reached), (self.no_data_on_arrival, other.no_data_on_arrival))
        for mine, theirs in pairs:
            for key, p in theirs.items():
                mine[key] = mine.get(key, 0.0) + weight * p
