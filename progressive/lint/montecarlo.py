"""Seeded Monte Carlo of a rollout with errors: P(promotion) when checks count 5xx.

Used by progressive/lint/report.py for a release with a non-zero error rate (a bad release, or
a good one with --error-rate); chain.py computes the error-free case exactly. Same engine rules
and stages as chain.py; every run is simulated tick by tick, all runs at once (numpy arrays).

Why sampling: consecutive windows overlap, so a tick's verdict depends on the request and error
counts of the parts it shares with earlier windows; an exact chain would have to carry those
counts. Here each interval is cut at the points where some window starts (window W = q*I + r
starts r seconds before the end of the interval q back), so every window is a union of whole
pieces. A piece of length L at canary rate λ gets n ~ Poisson(λL) requests and
errors ~ Binomial(n, E), independently of the other pieces (Poisson arrivals). A check sums
its pieces and judges as the engine does (no data, or errors > max_errors(n, min)). With a
metrics lag u the intervals are shifted by u, as in chain.py, and the runs are split evenly
over the scrape phases.
With R runs a probability p is estimated with standard error sqrt(p(1-p)/R); the report gives
the 95% Wilson interval. The seed is fixed, so a spec always gets the same figures.
"""

from __future__ import annotations

import math

from progressive.lint.chain import FIRST_ANALYSIS_TICK, ChainResult, Traffic, interval_rate, stages
from progressive.lint.model import is_rate_check, lag_phases
from progressive.model.types import CanarySpec

DEFAULT_RUNS = 40_000
DEFAULT_SEED = 20240607


def simulate(spec: CanarySpec, traffic: Traffic, error_rate: float, *, runs: int = DEFAULT_RUNS,
             seed: int = DEFAULT_SEED) -> ChainResult:
    """P(promotion) of a release with `error_rate`, from `runs` seeded runs (split evenly over
    the scrape phases when there is a metrics lag)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    phases = lag_phases(traffic.metrics_lag_s)
    result = ChainResult(method="monte-carlo", seed=seed)
    for u in phases:
        result.add(_simulate(spec, traffic, error_rate, runs // len(phases), rng, u),
                   1.0 / len(phases))
    return result


def _simulate(spec: CanarySpec, traffic: Traffic, error_rate: float, runs: int, rng,
              lag: float) -> ChainResult:
    import numpy as np

    a = spec.analysis
    plan = stages(spec, traffic)
    result = ChainResult(method="monte-carlo", runs=runs)
    if not plan:
        result.promote(1.0, 0)
        return result
    interval, threshold = a.interval_s, max(1, a.threshold)
    cuts, windows = _pieces(a.metrics, interval, lag)
    lengths = np.diff([0.0, *cuts])  # pieces of a shifted interval, from its end backwards
    earlier = np.array([c0 >= interval - lag - 1e-9 and lag > 0 for c0 in [0.0, *cuts[:-1]]])
    depth = max((q + 1 for q, _ in windows), default=1)
    shares = np.array([s.share for s in plan])
    n_hist = np.zeros((runs, depth, len(lengths)), dtype=np.int64)
    e_hist = np.zeros_like(n_hist)
    stage = np.zeros(runs, dtype=np.int64)
    failed = np.zeros(runs, dtype=np.int64)
    live = np.ones(runs, dtype=bool)
    before = np.zeros(runs)  # rate of the interval before: its tail opens the shifted one
    tick = FIRST_ANALYSIS_TICK
    while live.any():
        direct = interval_rate(-1, tick, plan, traffic)  # the load tester's share, if running
        rate = traffic.rps * shares[stage] + direct
        piece_rate = np.where(earlier[None, :], before[:, None], rate[:, None])
        n_new = rng.poisson(piece_rate * lengths[None, :])
        e_new = rng.binomial(n_new, error_rate) if error_rate > 0 else np.zeros_like(n_new)
        before = rate
        n_hist = np.concatenate([n_new[:, None, :], n_hist[:, :-1, :]], axis=1)
        e_hist = np.concatenate([e_new[:, None, :], e_hist[:, :-1, :]], axis=1)
        fails = np.zeros(runs, dtype=bool)
        for check, (q, k) in zip(a.metrics, windows, strict=True):
            n = n_hist[:, :q, :].sum(axis=(1, 2)) + n_hist[:, q, :k].sum(axis=1)
            empty = n == 0
            fail = empty if check.on_no_data != "pass" else np.zeros(runs, dtype=bool)
            if is_rate_check(check) and error_rate > 0:
                e = e_hist[:, :q, :].sum(axis=(1, 2)) + e_hist[:, q, :k].sum(axis=1)
                allowed = np.floor(n * (100.0 - check.min) / 100.0 + 1e-9)
                fail = fail | (~empty & (e > allowed))
            fails |= fail
        last = stage == len(plan) - 1
        promoted = live & ~fails & last
        for f, count in zip(*np.unique(failed[promoted], return_counts=True), strict=True):
            result.promote(int(count) / runs, int(f))
        rolled = live & fails & (failed + 1 >= threshold)
        result.roll_back(int(rolled.sum()) / runs, tick + 1)
        stage = np.where(live & ~fails & ~last, stage + 1, stage)
        failed = np.where(live & fails, failed + 1, failed)
        live &= ~(promoted | rolled)
        tick += 1
    return result


def _pieces(metrics, interval: float, lag: float):
    """Cut points (seconds from a shifted interval's end, ending at `interval`) and, per
    check, (q, k): its window is the q most recent whole intervals plus the first k pieces of
    the one before. A cut at interval - lag separates the previous interval's tail."""
    ends = {round(interval - lag, 9)} if 0 < lag < interval else set()
    shape = []
    for m in metrics:
        q = max(0, math.ceil(m.interval_s / interval - 1e-9) - 1)
        r = round(m.interval_s - q * interval, 9)
        ends.add(r)
        shape.append((q, r))
    cuts = sorted(ends | {round(interval, 9)})
    return cuts, [(q, cuts.index(r) + 1) for q, r in shape]
