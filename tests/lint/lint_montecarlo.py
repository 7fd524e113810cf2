"""A seeded Monte Carlo of a canary rollout, written apart from the lint's code, to check it.

Used by test_chain.py. It follows the engine's rules (SEMANTICS.md §4) with simulated
requests instead of formulas: arrivals at the canary are drawn one by one (exponential gaps)
interval by interval at the rate of the weight in effect, each an error with probability E;
each check counts the requests and errors whose time falls in its window.
Canary strategy only (weights from the spec), hooks and gates pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from progressive.model.types import CanarySpec, MetricKind


@dataclass
class Outcome:
    promoted: int = 0
    rolled_back: int = 0
    no_data_first_check: int = 0  # runs whose very first analysis check saw no request


def simulate(spec: CanarySpec, rps: float, error_rate: float, runs: int, seed: int,
             lag_s: float = 0.0) -> Outcome:
    """`lag_s`: each run draws a scrape phase u uniform in [0, lag_s]; its checks see
    (t - u - W, t - u]."""
    rng = random.Random(seed)
    out = Outcome()
    for _ in range(runs):
        promoted, first_empty = _one_run(spec, rps, error_rate, rng, rng.uniform(0, lag_s))
        out.promoted += promoted
        out.rolled_back += not promoted
        out.no_data_first_check += first_empty
    return out


def _one_run(spec: CanarySpec, rps: float, error_rate: float, rng: random.Random, lag: float):
    a = spec.analysis
    weights = list(a.weight_sequence())
    interval = a.interval_s
    requests: list[tuple[float, bool]] = []  # (time, is_error); tick k happens at (k-1)*interval
    stage, failed, tick = 0, 0, 3  # tick 2 (pre-rollout) set weights[0] at time interval
    first_empty = False
    while True:
        if failed >= max(1, a.threshold):
            return False, first_empty
        start, now = (tick - 2) * interval, (tick - 1) * interval
        rate = rps * weights[stage] / 100.0
        t = start
        while rate > 0:
            t += rng.expovariate(rate)
            if t > now:
                break
            requests.append((t, rng.random() < error_rate))
        verdicts = []
        for check in a.metrics:
            end = now - lag
            seen = [err for (when, err) in requests if end - check.interval_s < when <= end]
            if tick == 3 and not seen:
                first_empty = True
            if not seen:
                verdicts.append(False)
            elif check.kind is MetricKind.REQUEST_SUCCESS_RATE:
                n = len(seen)
                verdicts.append((n - sum(seen)) / n * 100.0 >= check.min)
            else:
                verdicts.append(True)
        if all(verdicts):
            if stage == len(weights) - 1:
                return True, first_empty
            stage += 1
        else:
            failed += 1
        tick += 1
