"""The probability model behind `progressive lint`: what one metric check sees, and its verdict.

Used by the rest of progressive/lint/ (rollout.py, chain.py, montecarlo.py, report.py). Pure
functions, standard library only.

The model, for one analysis tick at time t:
- Production traffic arrives at N req/s. Envoy (or Istio) sends each request to the canary
  independently with probability w/100 (SEMANTICS §11), so the canary's requests form a Poisson
  process of rate N*w/100, plus any load sent straight to the canary (a load tester). Poisson
  is the cautious choice: a paced load generator split at random gives Binomial(n, w/100)
  canary requests, whose chance of zero, (1 - w/100)^n, is below the Poisson e^(-n*w/100).
- A check queries the window (t - W, t]. The weight changes only at ticks, so the window is
  made of whole or partial intervals, each at the weight in effect then; the expected count is
  `mean = sum(rate of interval * seconds of it inside the window)` (window_mean). Right after
  a step only one interval (or W, if W < interval) is at the new weight.
- The count is n ~ Poisson(mean): the check sees no data with probability exp(-mean).
- Each request fails (5xx) independently with probability E, so errors ~ Binomial(n, E). The
  request-success-rate check with minimum M% fails when it sees no data, or when
  (n - errors) / n * 100 < M, i.e. when errors > max_errors(n, M).
- The request-duration check: a good release (P99 well under the bound) passes whenever it
  sees data; a release slower than the bound fails it at every tick (assumption). Custom
  checks are treated like duration checks for a good release (lint cannot know what they
  measure).
- No data fails a check unless the check says `onNoData: pass` (the engine's default, as
  Flagger's). Any failing check fails the tick. The checks of one tick share requests (their
  windows all end at t and nest) and so do consecutive ticks when a window is longer than the
  interval: chain.py and montecarlo.py handle the rollout as a whole; this module gives the
  figures of one check.
- Metrics lag (`lag_s`, optional): Prometheus sees a request only after the next scrape (and,
  for recorded series, the next rule evaluation). The window becomes (t - u - W, t - u]
  with u the scrape phase, uniform in [0, lag] and fixed for a rollout (lag_phases).

Known gaps, on the side of reality: the start of a window also waits for its first sample;
the first sample of a brand-new counter series is its baseline, so requests before a fresh
canary's first scrape are invisible to rate(). Both make no data a little more likely than
predicted, mostly at short, time-scaled windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from progressive.model.types import MetricCheck, MetricKind

_TAIL_SD = 10.0  # Poisson/binomial terms beyond this many standard deviations are dropped
_EPS = 1e-9
LAG_NODES = 16


def p_no_data(mean: float) -> float:
    """Probability that a window with `mean` expected requests holds none: exp(-mean)."""
    return math.exp(-mean) if mean > 0 else 1.0


def window_mean(window_s: float, interval_s: float, rates: Sequence[float],
                lag_s: float = 0.0) -> float:
    """Expected requests a check at tick t sees in its window (t - lag - W, t - lag].

    `rates[j]` is the canary's request rate (req/s) during the j-th interval before the tick
    (0 = the interval that just ended); intervals beyond the list had no canary traffic.
    """
    lo, hi = lag_s, lag_s + window_s  # seconds before the tick
    mean = 0.0
    for j, rate in enumerate(rates):
        start, end = j * interval_s, (j + 1) * interval_s
        if start >= hi:
            break
        mean += rate * max(0.0, min(end, hi) - max(start, lo))
    return mean


def lag_phases(lag_s: float, nodes: int = LAG_NODES) -> list[float]:
    """Where the newest visible request can be: midpoints of `nodes` equal parts of [0, lag].

    Scrapes (and rule evaluations) run at a fixed period and phase, so within one rollout every
    check misses the same newest u seconds, u uniform in [0, lag] from one rollout to the next;
    lint averages over these phases (midpoint rule).
    """
    if lag_s <= 0:
        return [0.0]
    return [(k + 0.5) * lag_s / nodes for k in range(nodes)]


def max_errors(n: int, min_pct: float) -> int:
    """Most 5xx among n requests that still give a success rate >= min_pct."""
    return math.floor(n * (100.0 - min_pct) / 100.0 + _EPS)


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p), summed from the smaller side."""
    if k >= n or p <= 0.0:
        return 0.0
    if k < 0 or p >= 1.0:
        return 1.0
    mu, sd = n * p, math.sqrt(n * p * (1 - p))
    if k + 1 > mu:  # upper tail: terms fall as j grows
        if k + 1 > mu + _TAIL_SD * sd + 10:
            return 0.0
        return _sum_terms(range(k + 1, n + 1), n, p)
    if k < mu - _TAIL_SD * sd - 10:
        return 1.0
    return max(0.0, 1.0 - _sum_terms(range(k, -1, -1), n, p))


def _sum_terms(ks: range, n: int, p: float) -> float:
    total = 0.0
    for j in ks:
        term = math.exp(_log_binom_pmf(j, n, p))
        total += term
        if term < 1e-18 * total:
            break
    return total


def _poisson_terms(mean: float):
    """(n, P(N = n)) for n >= 1 where the Poisson(mean) mass is not negligible."""
    sd = math.sqrt(mean)
    lo = max(1, math.floor(mean - _TAIL_SD * sd - 5))
    hi = math.ceil(mean + _TAIL_SD * sd + 15)
    log_mean = math.log(mean)
    for n in range(lo, hi + 1):
        yield n, math.exp(n * log_mean - mean - math.lgamma(n + 1))


@lru_cache(maxsize=65536)
def success_rate_fail(mean: float, error_rate: float, min_pct: float,
                      no_data_fails: bool = True) -> float:
    """P(the success-rate check fails): n ~ Poisson(mean), errors ~ Binomial(n, error_rate)."""
    if mean <= 0:
        return 1.0 if no_data_fails else 0.0
    fail = math.exp(-mean) if no_data_fails else 0.0
    if error_rate <= 0.0 or min_pct <= 0.0:
        return fail
    for n, weight in _poisson_terms(mean):
        fail += weight * binom_sf(max_errors(n, min_pct), n, error_rate)
    return min(1.0, fail)


def is_rate_check(check: MetricCheck) -> bool:
    return check.kind is MetricKind.REQUEST_SUCCESS_RATE and check.min is not None


def check_fail(means: Sequence[float], error_rate: float, check: MetricCheck) -> float:
    """P(a check fails), averaged over the lag phases (one expected count per phase)."""
    no_data_fails = check.on_no_data != "pass"
    if is_rate_check(check):
        total = sum(success_rate_fail(m, error_rate, check.min, no_data_fails) for m in means)
    else:
        total = sum(p_no_data(m) for m in means) if no_data_fails else 0.0
    return total / len(means)


def min_error_rate_caught(means: Sequence[float], check: MetricCheck,
                          power: float = 0.95) -> float | None:
    """Smallest true error rate the success-rate check fails with probability >= `power`.

    0.0 when no data alone fails it that often; None when no error rate does (min <= 0, or
    data is too rare and no data passes).
    """
    if not is_rate_check(check) or check.min is None or check.min <= 0.0:
        return None
    if check_fail(means, 0.0, check) >= power:
        return 0.0
    if check_fail(means, 1.0, check) < power:
        return None
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-5:
        mid = (lo + hi) / 2
        if check_fail(means, mid, check) >= power:
            hi = mid
        else:
            lo = mid
    return hi
