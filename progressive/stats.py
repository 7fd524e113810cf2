"""Statistics for traffic assertions: is an observed share consistent with a weight?

Envoy (and Istio) pick the destination of each request independently at random, so the number
of requests that reach a destination with weight p out of n is Binomial(n, p). A check states
its false-alarm probability `alpha` (the chance of failing a correct router), and the
acceptance region is computed exactly from the binomial distribution, so a conformance run of
many checks still has a known, tiny flake rate (DESIGN.md, "Verdict trust").

- `acceptance_interval(n, p, alpha)`: counts [lo, hi] with P(X < lo) + P(X > hi) <= alpha.
- `wilson_interval(k, n, confidence)`: the interval for the true share given k of n (reports).
- `sample_size(p, half_width, alpha)`: n for which the acceptance region is within p +/- h.
- `SequentialSplit`: a split check that stops as soon as its verdict is certain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

DEFAULT_ALPHA = 1e-4


def _log_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def acceptance_interval(n: int, p: float, alpha: float = DEFAULT_ALPHA) -> tuple[int, int]:
    """Smallest central region [lo, hi] of Binomial(n, p) with each tail <= alpha / 2."""
    if n < 0 or not 0.0 <= p <= 1.0 or not 0.0 < alpha < 1.0:
        raise ValueError(f"bad arguments n={n} p={p} alpha={alpha}")
    if n == 0:
        return 0, 0
    half = alpha / 2.0
    pmf = [math.exp(_log_pmf(k, n, p)) for k in range(n + 1)]
    lo, tail = 0, 0.0
    while lo <= n and tail + pmf[lo] <= half:
        tail += pmf[lo]
        lo += 1
    hi, tail = n, 0.0
    while hi >= 0 and tail + pmf[hi] <= half:
        tail += pmf[hi]
        hi -= 1
    return min(lo, n), max(hi, 0)


def consistent(k: int, n: int, p: float, alpha: float = DEFAULT_ALPHA) -> bool:
    lo, hi = acceptance_interval(n, p, alpha)
    return lo <= k <= hi


def _z(alpha: float) -> float:
    return -NormalDist().inv_cdf(alpha / 2.0)  # from the lower tail: exact for tiny alpha


def wilson_interval(k: int, n: int, confidence: float = 1.0 - DEFAULT_ALPHA) -> tuple[float, float]:
    """Wilson score interval for a share observed as k of n."""
    return _wilson(k, n, 1.0 - confidence)


def _wilson(k: int, n: int, alpha: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z = _z(alpha)
    phat = k / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    spread = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - spread), min(1.0, centre + spread)


def sample_size(p: float, half_width: float, alpha: float = DEFAULT_ALPHA) -> int:
    """Requests needed so the acceptance region for share p lies within p +/- half_width."""
    if not 0.0 < half_width < 1.0:
        raise ValueError("half_width must be in (0, 1)")
    z = _z(alpha)
    n = max(1, math.ceil(z * z * p * (1.0 - p) / (half_width * half_width)))
    while True:  # the normal approximation is only a start: check exactly, grow until it holds
        lo, hi = acceptance_interval(n, p, alpha)
        if lo / n >= p - half_width and hi / n <= p + half_width:
            return n
        n = math.ceil(n * 1.05) + 1


def zero_count_sample_size(share: float, alpha: float = DEFAULT_ALPHA) -> int:
    """Requests in which none reaching a destination rules out, at false-alarm probability
    `alpha`, that it gets `share` of them or more: the least n with (1 - share)^n <= alpha."""
    if not 0.0 < share < 1.0:
        raise ValueError("share must be in (0, 1)")
    return math.ceil(math.log(alpha) / math.log1p(-share))


@dataclass
class Verdict:
    decided: bool
    consistent: bool | None
    n: int
    k: int
    interval: tuple[float, float]
    reason: str


class SequentialSplit:
    """Decide whether a destination's true share is within `tolerance` of `p`, early.

    After each batch, a Wilson interval is computed at a level that spends the false-alarm
    budget over looks (look j uses alpha * 6 / (pi^2 j^2); the sum over all looks is alpha, so
    all looks together stay <= alpha by the union bound: a confidence sequence). The check stops as soon as the interval lies
    inside [p - tolerance, p + tolerance] (consistent) or lies wholly outside that band
    (inconsistent): an equivalence test, so a true share inside the band is never rejected. With
    `max_n` reached undecided, the verdict is taken from the final exact acceptance test.
    """

    def __init__(self, p: float, tolerance: float, alpha: float = DEFAULT_ALPHA, max_n: int = 100_000):
        self.p, self.tolerance, self.alpha, self.max_n = p, tolerance, alpha, max_n
        self.n = self.k = self.looks = 0

    def update(self, hits: int, total: int) -> Verdict:
        self.k += hits
        self.n += total
        self.looks += 1
        level = self.alpha * 6.0 / (math.pi**2 * self.looks**2)
        lo, hi = _wilson(self.k, self.n, level)
        if lo >= self.p - self.tolerance and hi <= self.p + self.tolerance:
            return Verdict(True, True, self.n, self.k, (lo, hi), "share within tolerance")
        if hi < self.p - self.tolerance or lo > self.p + self.tolerance:
            return Verdict(True, False, self.n, self.k, (lo, hi),
                           f"share outside {self.p} +/- {self.tolerance}")
        if self.n >= self.max_n:
            ok = consistent(self.k, self.n, self.p, self.alpha)
            return Verdict(True, ok, self.n, self.k, (lo, hi), "max sample size reached")
        return Verdict(False, None, self.n, self.k, (lo, hi), "undecided")
