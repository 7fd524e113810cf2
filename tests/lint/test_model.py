"""What one check sees: window means, no-data odds, the success-rate verdict, against hand
computations (closed forms written out in each test)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from lint_specs import DURATION, SUCCESS_RATE

from progressive.lint.model import (
    binom_sf,
    check_fail,
    lag_phases,
    max_errors,
    min_error_rate_caught,
    p_no_data,
    success_rate_fail,
    window_mean,
)


def approx(x, rel=1e-9):
    return pytest.approx(x, rel=rel, abs=1e-15)


class TestWindow:
    def test_first_check_after_a_step_sees_one_interval_at_the_new_weight(self):
        # seed at 1 req/s, weight 20% after 10%: 15 s at 0.2 req/s + 15 s at 0.1 req/s
        assert window_mean(30, 15, [0.2, 0.1]) == approx(4.5)
        assert window_mean(60, 15, [0.2, 0.1]) == approx(4.5)  # nothing earlier

    def test_partial_interval_counts_pro_rata(self):
        assert window_mean(40, 15, [1.0, 2.0, 3.0]) == approx(15 + 30 + 3 * 10)

    def test_window_shorter_than_the_interval(self):
        assert window_mean(10, 15, [0.5, 9.0]) == approx(5.0)


class TestNoData:
    def test_poisson_zero(self):
        assert p_no_data(1.5) == approx(0.22313016014842982)
        assert p_no_data(0.0) == 1.0

    def test_seed_first_check_at_one_rps(self):
        # weight 10%: 1 req/s * 0.1 * 15 s = 1.5 requests expected in either window
        assert p_no_data(window_mean(60, 15, [0.1])) == approx(math.exp(-1.5))


class TestSuccessRateCheck:
    def test_max_errors(self):
        assert max_errors(100, 99) == 1
        assert max_errors(99, 99) == 0
        assert max_errors(200, 99.5) == 1
        assert max_errors(10, 0) == 10

    def test_binomial_tail_by_hand(self):
        n, p = 150, 0.05
        by_hand = 1 - (1 - p) ** n - n * p * (1 - p) ** (n - 1)
        assert binom_sf(1, n, p) == approx(by_hand, rel=1e-12)
        assert binom_sf(149, n, p) == approx(p ** n)
        assert binom_sf(150, n, p) == 0.0

    def test_small_counts_need_zero_errors(self):
        # With min 99% and fewer than 100 requests one error fails the check, so
        # P(pass) = sum_{n>=1} Pois(n; m) (1-E)^n = exp(-mE) - exp(-m).
        m, e = 1.5, 0.05
        assert success_rate_fail(m, e, 99) == approx(1 - math.exp(-m * e) + math.exp(-m))

    def test_good_release_fails_only_on_no_data(self):
        assert success_rate_fail(4.5, 0.0, 99) == approx(math.exp(-4.5))
        assert success_rate_fail(4.5, 0.0, 99, no_data_fails=False) == 0.0

    def test_large_counts_by_direct_sum(self):
        m, e, minimum = 150.0, 0.02, 99.0
        direct = math.exp(-m)
        for n in range(1, 600):
            pois = math.exp(n * math.log(m) - m - math.lgamma(n + 1))
            k = math.floor(n * 0.01 + 1e-9)
            tail = sum(math.comb(n, j) * e ** j * (1 - e) ** (n - j) for j in range(k + 1, n + 1))
            direct += pois * tail
        assert success_rate_fail(m, e, minimum) == approx(direct, rel=1e-9)

    def test_smallest_error_rate_caught(self):
        # fail(E) = 1 - exp(-1.5E) + exp(-1.5) >= 0.95  <=>  E >= -ln(0.05 + exp(-1.5)) / 1.5
        expected = -math.log(0.05 + math.exp(-1.5)) / 1.5
        assert min_error_rate_caught([1.5], SUCCESS_RATE) == pytest.approx(expected, abs=2e-5)
        assert min_error_rate_caught([0.01], SUCCESS_RATE) == 0.0  # no data fails it 99%
        assert min_error_rate_caught([100], replace(SUCCESS_RATE, min=0)) is None
        assert min_error_rate_caught([100], DURATION) is None

    def test_check_fail_averages_over_the_lag_phases(self):
        means = [1.0, 3.0]
        assert check_fail(means, 0.0, DURATION) == approx((math.exp(-1) + math.exp(-3)) / 2)
        assert check_fail(means, 0.0, replace(DURATION, on_no_data="pass")) == 0.0


class TestLag:
    def test_the_newest_seconds_are_not_seen(self):
        # 2 s lag: the window (t-32, t-2] sees 13 s at 0.2 req/s and 15 s at 0.1 req/s
        assert window_mean(30, 15, [0.2, 0.1], lag_s=2) == approx(0.2 * 13 + 0.1 * 15)

    def test_phases(self):
        assert lag_phases(0) == [0.0]
        assert lag_phases(2, nodes=4) == [0.25, 0.75, 1.25, 1.75]
