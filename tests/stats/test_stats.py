"""The statistics behind every traffic assertion (progressive/stats.py)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from progressive.stats import (
    SequentialSplit,
    acceptance_interval,
    consistent,
    sample_size,
    wilson_interval,
)


def pmf(k: int, n: int, p: float) -> float:
    """Binomial probability, computed independently of the module (exact rationals)."""
    q = Fraction(p).limit_denominator(10**9)
    return float(math.comb(n, k) * q**k * (1 - q) ** (n - k))


def cdf(k: int, n: int, p: float) -> float:
    q = Fraction(p).limit_denominator(10**9)
    return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1)))


@pytest.mark.parametrize(("n", "p", "alpha"), [(2000, 0.1, 1e-4), (10_000, 0.01, 1e-4),
                                               (300, 0.5, 1e-3), (50, 0.02, 0.05)])
def test_acceptance_region_tails_are_within_alpha_and_as_tight_as_possible(n, p, alpha):
    lo, hi = acceptance_interval(n, p, alpha)
    below = cdf(lo - 1, n, p) if lo > 0 else 0.0
    above = 1.0 - cdf(hi, n, p)
    assert below <= alpha / 2 and above <= alpha / 2
    # one more count on either side would break the bound: the region is minimal
    assert below + pmf(lo, n, p) > alpha / 2 or lo == n
    assert above + pmf(hi, n, p) > alpha / 2 or hi == 0


def test_known_regions():
    assert acceptance_interval(10_000, 0.01) == (64, 141)  # the 1% preview check
    assert acceptance_interval(2000, 0.1) == (150, 254)
    assert acceptance_interval(100, 0.0) == (0, 0)  # weight 0: a single hit is a failure
    assert acceptance_interval(100, 1.0) == (100, 100)
    assert acceptance_interval(0, 0.3) == (0, 0)


def test_consistent_follows_the_region():
    assert consistent(100, 10_000, 0.01)
    assert not consistent(150, 10_000, 0.01)
    assert not consistent(1, 500, 0.0)


def test_false_alarm_rate_matches_alpha_in_simulation():
    """A correct router fails the check at most alpha of the time (seeded, 4,000 checks)."""
    rng = random.Random(7)
    alpha, n, p, runs = 0.02, 400, 0.1, 4000
    lo, hi = acceptance_interval(n, p, alpha)
    alarms = sum(not (lo <= sum(rng.random() < p for _ in range(n)) <= hi) for _ in range(runs))
    # alarms ~ Binomial(4000, <= 0.02): its own 1e-4 acceptance region bounds the count
    assert alarms <= acceptance_interval(runs, alpha, 1e-4)[1]


def test_wilson_interval_contains_the_share_and_narrows_with_n():
    lo, hi = wilson_interval(100, 10_000, 0.9999)
    assert lo < 0.01 < hi
    lo2, hi2 = wilson_interval(1000, 100_000, 0.9999)
    assert hi2 - lo2 < hi - lo
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sample_size_gives_the_stated_precision():
    n = sample_size(0.01, 0.0025, 1e-4)
    lo, hi = acceptance_interval(n, 0.01, 1e-4)
    assert lo / n >= 0.01 - 0.0025 and hi / n <= 0.01 + 0.0025
    smaller = int(n * 0.9)
    lo, hi = acceptance_interval(smaller, 0.01, 1e-4)
    assert lo / smaller < 0.0075 or hi / smaller > 0.0125, "not the smallest size (within 10%)"
    with pytest.raises(ValueError):
        sample_size(0.01, 0.0)


def feed(check: SequentialSplit, p_true: float, batch: int, seed: int):
    rng = random.Random(seed)
    while True:
        verdict = check.update(sum(rng.random() < p_true for _ in range(batch)), batch)
        if verdict.decided:
            return verdict


def test_sequential_check_accepts_a_correct_split_and_rejects_a_wrong_one_early():
    good = feed(SequentialSplit(0.01, 0.0025, 1e-4, max_n=200_000), 0.01, 5000, seed=1)
    assert good.consistent and good.reason == "share within tolerance"
    bad = feed(SequentialSplit(0.01, 0.0025, 1e-4), 0.03, 500, seed=2)
    assert bad.consistent is False and bad.n <= 2000, "a 3% share should be caught within 2,000"


def test_sequential_check_never_rejects_a_share_inside_the_tolerance():
    verdict = feed(SequentialSplit(0.01, 0.0025, 1e-4, max_n=200_000), 0.009, 2000, seed=3)
    assert verdict.consistent is not False or verdict.reason == "max sample size reached"
