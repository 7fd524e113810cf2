"""Seeded Monte Carlo of a rollout with errors: P(promotion) when checks count 5xx.

Used by progressive/lint/report.py for a release with a non-zero error rate (a bad release, or
a good one with --error-rate); chain.py computes the error-free case exactly. Same engine rules
and stages (rollout.py); every run is simulated tick by tick, all runs at once (numpy arrays).

Why sampling: consecutive windows overlap, so a tick's verdict depends on the request and error
counts of the parts it shares with earlier windows; an exact chain would have to carry those
counts. Here each (shifted) interval is cut into pieces (rollout.Grid), so every window is a
union of whole pieces. A piece of length L at canary rate λ gets n ~ Poisson(λL) requests and
errors ~ Binomial(n, E), independently of the other pieces (Poisson arrivals). A check sums
its pieces and judges as the engine does (no data, or errors > max_errors(n, min)). With a
metrics lag the runs are split evenly over the scrape phases.
With R runs a probability p is estimated with standard error sqrt(p(1-p)/R); the report gives
the 95% Wilson interval. The seed is fixed, so a spec always gets the same figures.
"""

from __future__ import annotations

from progressive.lint.model import is_rate_check, lag_phases
from progressive.lint.rollout import (
    FIRST_ANALYSIS_TICK,
    ChainResult,
    Traffic,
    grid,
    interval_rate,
    stages,
)
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
    pieces = grid([m.interval_s for m in a.metrics], interval, lag)
    windows = [pieces.cover[m.interval_s] for m in a.metrics]
    lengths = np.array(pieces.lengths)  # pieces of a shifted interval, most recent first
    earlier = np.array(pieces.earlier)
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
            if is_rate_check(check) and check.min is not None and error_rate > 0:
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
