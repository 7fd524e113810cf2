"""Exact odds for a release without errors: when do checks see no data, and what follows.

Used by progressive/lint/report.py; tests/lint/ checks it against hand computations and a
seeded request-level simulation. The engine rules and the shifted intervals are described in
rollout.py.

Consecutive windows overlap when a window is longer than the interval: a check that saw no
request makes an empty window at the next tick more likely, and a check that saw one makes it
less likely, so ticks are not independent given the weight. For a release without errors a
check fails only on no data, and the past is summed up exactly by one number per distinct
window W: `d[W]`, for how many more ticks (this one included) the latest canary request stays
inside W. Each new shifted interval is cut into pieces (rollout.Grid); only its most recent
non-empty piece matters, since a request there stays at least as long in every window as any
older one. If that piece keeps requests in W for s ticks, d[W] becomes max(d[W] - 1, s);
with no request at all, max(d[W] - 1, 0). A check sees no data when its d[W] is 0, and a tick
fails when the shortest window that fails on no data is empty.

`no_data_chain` is dynamic programming over (stage, failedChecks, d): exact, no sampling; its
probability mass flows tick by tick until every path has promoted or rolled back (at most
len(stages) + threshold ticks). With a metrics lag the result is averaged over the scrape
phases (midpoint rule, model.lag_phases). It also records, per stage, the probability that
the first check there sees no request given the rollout got there.
"""

from __future__ import annotations

import math
from collections import defaultdict

from progressive.lint.model import lag_phases
from progressive.lint.rollout import (
    FIRST_ANALYSIS_TICK,
    ChainResult,
    Grid,
    Traffic,
    grid,
    interval_rate,
    stages,
)
from progressive.model.types import CanarySpec

State = tuple[int, int, tuple[int, ...]]  # stage, failedChecks, d per window


def no_data_chain(spec: CanarySpec, traffic: Traffic) -> ChainResult:
    """Exact odds of a release with no errors (module docstring)."""
    phases = lag_phases(traffic.metrics_lag_s)
    result = ChainResult()
    for u in phases:
        result.add(_chain(spec, traffic, u), 1.0 / len(phases))
    return result


def _chain(spec: CanarySpec, traffic: Traffic, lag: float) -> ChainResult:
    a = spec.analysis
    plan = stages(spec, traffic)
    threshold = max(1, a.threshold)
    result = ChainResult()
    windows = sorted({m.interval_s for m in a.metrics})
    failing = [m.interval_s for m in a.metrics if m.on_no_data != "pass"]
    if not plan:
        result.promote(1.0, 0)
        return result
    decisive = windows.index(min(failing)) if failing else None
    pieces = grid(windows, a.interval_s, lag)
    stays = [pieces.stays(w) for w in windows]

    frontier: dict[State, float] = defaultdict(float)
    first = interval_rate(0, FIRST_ANALYSIS_TICK, plan, traffic)
    for d, p in _arrivals((0,) * len(windows), 0.0, first, pieces, stays):
        frontier[(0, 0, d)] += p
    _arrived(result, 0, frontier.items(), windows)
    tick = FIRST_ANALYSIS_TICK
    while frontier:
        nxt: dict[State, float] = defaultdict(float)
        arrivals: dict[State, float] = defaultdict(float)
        for (stage, failed, d), mass in frontier.items():
            if decisive is None or d[decisive] > 0:
                if stage == len(plan) - 1:
                    result.promote(mass, failed)
                    continue
                after = (stage + 1, failed)
            else:
                if failed + 1 >= threshold:
                    result.roll_back(mass, tick + 1)
                    continue
                after = (stage, failed + 1)
            rate_before = interval_rate(stage, tick, plan, traffic)
            rate_after = interval_rate(after[0], tick + 1, plan, traffic)
            for d_after, p in _arrivals(d, rate_before, rate_after, pieces, stays):
                nxt[(*after, d_after)] += mass * p
                if after[0] != stage:
                    arrivals[(*after, d_after)] += mass * p
        for stage in {s for s, _, _ in arrivals}:
            _arrived(result, stage, [(k, v) for k, v in arrivals.items() if k[0] == stage],
                     windows)
        frontier = nxt
        tick += 1
    return result


def _arrivals(d: tuple[int, ...], rate_before: float, rate_after: float, pieces: Grid,
              stays: list[tuple[int, ...]]):
    """(d after one more shifted interval, probability), over its most recent busy piece."""
    out = []
    none_so_far = 1.0
    for j, (length, earlier) in enumerate(zip(pieces.lengths, pieces.earlier, strict=True)):
        empty = math.exp(-(rate_before if earlier else rate_after) * length)
        p = none_so_far * (1.0 - empty)
        if p > 0.0:
            out.append((tuple(max(dw - 1, s[j]) for dw, s in zip(d, stays, strict=True)), p))
        none_so_far *= empty
    if none_so_far > 0.0:
        out.append((tuple(max(dw - 1, 0) for dw in d), none_so_far))
    return out


def _arrived(result: ChainResult, stage: int, states, windows: list[float]) -> None:
    for (_, _, d), mass in states:
        result.reached[stage] = result.reached.get(stage, 0.0) + mass
        for w, dw in zip(windows, d, strict=True):
            if dw == 0:
                key = (stage, w)
                result.no_data_on_arrival[key] = result.no_data_on_arrival.get(key, 0.0) + mass
