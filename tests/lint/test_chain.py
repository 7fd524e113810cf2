"""The rollout as a chain of ticks: the exact no-data chain against hand computations, and both
the exact chain and the library's Monte Carlo against a request-level simulation written apart
(lint_montecarlo.py).

Statistical comparisons: each simulation is seeded (the figures are reproducible); the bounds
are the ones a fresh seed would pass with false-alarm probability <= 1e-4: an exact binomial
acceptance interval (progressive.stats) against an exact figure, or |p1 - p2| <= 3.89 standard
errors (two-sided normal, 1e-4) between two simulations. Sample sizes are in each test.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from lint_montecarlo import simulate as simulate_requests
from lint_specs import DURATION, SEED, SUCCESS_RATE, variant

from progressive.lint.chain import no_data_chain
from progressive.lint.montecarlo import simulate
from progressive.lint.rollout import Traffic, stages
from progressive.model.types import RequestMatch
from progressive.stats import consistent

Z_1E4 = 3.89  # two-sided normal quantile for a false-alarm probability of 1e-4
RUNS = 20_000


def same_probability(k1: int, n1: int, k2: int, n2: int) -> bool:
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return abs(p1 - p2) <= Z_1E4 * se + 1e-12


class TestStages:
    def test_seed_walks_its_weights(self):
        assert [s.weight for s in stages(SEED, Traffic(1))] == [10, 20, 30, 40, 50]

    def test_mirror_comes_first(self):
        plan = stages(variant(mirror=True, mirror_weight=50), Traffic(1))
        assert (plan[0].label, plan[0].share) == ("mirror", 0.5)

    def test_blue_green_iterations_get_no_production_traffic(self):
        plan = stages(variant(iterations=3), Traffic(1))
        assert [s.share for s in plan] == [0.0, 0.0, 0.0, 1.0]

    def test_ab_iterations_get_the_matching_share(self):
        spec = variant(iterations=2, match=(RequestMatch(uri_prefix="/"),))
        assert [s.share for s in stages(spec, Traffic(10, match_share=0.05))] == [0.05, 0.05]


class TestExactChainByHand:
    def test_windows_shorter_than_the_interval_are_independent(self):
        # one stage at 50%, 10 s window, 1 req/s: every check expects 5 requests, threshold 2
        spec = variant(step_weight=50, max_weight=50, threshold=2,
                       metrics=(replace(DURATION, interval_s=10),))
        result = no_data_chain(spec, Traffic(1))
        assert result.p_rolled_back == pytest.approx(math.exp(-10), rel=1e-12)
        assert result.p_promoted + result.p_rolled_back == pytest.approx(1, rel=1e-12)

    def test_an_empty_window_stays_empty_in_the_overlap(self):
        # stages 50% and 100% at 0.2 req/s, 30 s windows (two intervals), threshold 2.
        # tick 3 fails iff its last interval is empty (a = e^-1.5); a passing tick 3 leaves a
        # request in the next window, so it promotes; after a failure tick 4 fails iff its own
        # interval is empty too (a again). P(rollback) = a^2, not a * e^-3.
        spec = variant(step_weight=50, max_weight=100, threshold=2,
                       metrics=(replace(DURATION, interval_s=30),))
        result = no_data_chain(spec, Traffic(0.2))
        assert result.p_rolled_back == pytest.approx(math.exp(-3.0), rel=1e-12)

    def test_partial_overlap(self):
        # 20 s window = this interval + the last 5 s of the one before; threshold 1; rates
        # 0.05 then 0.1 req/s. Promoted: tick 3 sees a request, and tick 4 sees one in its
        # interval or in the last 5 s of tick 3's:
        # (1 - e^-0.75) - (e^-0.25 - e^-0.75) * e^-1.5
        spec = variant(step_weight=50, max_weight=100, threshold=1,
                       metrics=(replace(DURATION, interval_s=20),))
        result = no_data_chain(spec, Traffic(0.1))
        by_hand = (1 - math.exp(-0.75)) - (math.exp(-0.25) - math.exp(-0.75)) * math.exp(-1.5)
        assert result.p_promoted == pytest.approx(by_hand, rel=1e-12)

    def test_no_data_at_the_first_check_of_a_step_given_the_rollout_got_there(self):
        # seed at 1 req/s: the first check at 10% sees 15 s at 0.1 req/s; any way to 20%
        # passes a check whose request is still inside both windows at the next tick
        result = no_data_chain(SEED, Traffic(1))
        assert result.p_no_data_on_arrival(0, 30) == pytest.approx(math.exp(-1.5), rel=1e-12)
        assert result.p_no_data_on_arrival(1, 30) == 0.0
        assert result.p_no_data_on_arrival(1, 60) == 0.0
        # windows of one interval do not overlap: P = exp(-0.2 * 15) at 20%, however reached
        one = variant(metrics=(replace(DURATION, interval_s=15),))
        result = no_data_chain(one, Traffic(1))
        assert result.p_no_data_on_arrival(1, 15) == pytest.approx(math.exp(-3), rel=1e-12)
        assert result.reached[0] == 1.0

    def test_a_lag_inside_the_interval_changes_nothing(self):
        # 10 s windows inside 15 s intervals stay inside them when 0..4 s late
        spec = variant(step_weight=50, max_weight=50, threshold=2,
                       metrics=(replace(DURATION, interval_s=10),))
        result = no_data_chain(spec, Traffic(1, metrics_lag_s=4))
        assert result.p_rolled_back == pytest.approx(math.exp(-10), rel=1e-9)

    def test_a_lag_hides_the_newest_seconds_of_the_step(self):
        # one stage at 0.5 req/s, 15 s window = interval, threshold 1: with phase u the first
        # check sees 15-u s of the step (and u s from before it, no traffic)
        spec = variant(step_weight=50, max_weight=50, threshold=1,
                       metrics=(replace(DURATION, interval_s=15),))
        result = no_data_chain(spec, Traffic(1, metrics_lag_s=2))
        phases = [(k + 0.5) * 2 / 16 for k in range(16)]
        by_hand = sum(math.exp(-0.5 * (15 - u)) for u in phases) / 16
        assert result.p_rolled_back == pytest.approx(by_hand, rel=1e-9)

    def test_blue_green_without_load_is_always_rolled_back(self):
        result = no_data_chain(variant(iterations=3, threshold=2), Traffic(100))
        assert result.p_rolled_back == pytest.approx(1.0)
        assert result.mean_rollback_tick == pytest.approx(5)  # fails at ticks 3, 4

    def test_blue_green_load_tester_misses_only_the_first_check(self):
        result = no_data_chain(variant(iterations=3, threshold=2), Traffic(100, canary_rps=10))
        assert result.p_promoted == pytest.approx(1.0, abs=1e-12)
        assert result.mean_failures_if_promoted == pytest.approx(1.0, abs=1e-12)

    def test_no_check_fails_on_no_data(self):
        spec = variant(metrics=(replace(DURATION, on_no_data="pass"),))
        assert no_data_chain(spec, Traffic(0)).p_promoted == 1.0


class TestAgainstRequestLevelSimulation:
    def test_exact_chain_good_release_seed_canary_at_low_load(self):
        rps = 0.3  # the first check sees no data 64% of the time: rollbacks are common
        exact = no_data_chain(SEED, Traffic(rps))
        sim = simulate_requests(SEED, rps, 0.0, RUNS, seed=7)
        assert consistent(sim.rolled_back, RUNS, exact.p_rolled_back)
        assert consistent(sim.no_data_first_check, RUNS, math.exp(-rps * 0.1 * 15))

    def test_exact_chain_partial_windows(self):
        spec = variant(step_weight=25, max_weight=75, threshold=3,
                       metrics=(replace(SUCCESS_RATE, interval_s=40),
                                replace(DURATION, interval_s=50)))
        exact = no_data_chain(spec, Traffic(0.5))
        sim = simulate_requests(spec, 0.5, 0.0, RUNS, seed=8)
        assert consistent(sim.rolled_back, RUNS, exact.p_rolled_back)

    @pytest.mark.parametrize(("spec", "rps", "error_rate"), [
        (SEED, 1.0, 0.05),
        (variant(step_weight=25, max_weight=75, threshold=3,
                 metrics=(replace(SUCCESS_RATE, min=90, interval_s=40),
                          replace(DURATION, interval_s=20))), 2.0, 0.1),
    ], ids=["seed-bad-release", "partial-windows-min-90"])
    def test_library_monte_carlo_with_errors(self, spec, rps, error_rate):
        lib = simulate(spec, Traffic(rps), error_rate, runs=RUNS, seed=11)
        sim = simulate_requests(spec, rps, error_rate, RUNS, seed=12)
        assert 0.05 < lib.p_promoted < 0.95  # a comparison that can tell a difference
        assert same_probability(round(lib.p_promoted * RUNS), RUNS, sim.promoted, RUNS)

    def test_library_monte_carlo_without_errors_matches_the_exact_chain(self):
        exact = no_data_chain(SEED, Traffic(0.3))
        lib = simulate(SEED, Traffic(0.3), 0.0, runs=RUNS, seed=13)
        assert consistent(round(lib.p_rolled_back * RUNS), RUNS, exact.p_rolled_back)
        assert lib.mean_failures_if_promoted == pytest.approx(
            exact.mean_failures_if_promoted, abs=0.05)

    def test_metrics_lag_exact_and_sampled(self):
        # the 16-phase midpoint rule against phases drawn uniformly: its error (~1e-4 here) is
        # far below the sampling error of 20,000 runs
        spec = variant(threshold=3)
        exact = no_data_chain(spec, Traffic(0.5, metrics_lag_s=8))
        sim = simulate_requests(spec, 0.5, 0.0, RUNS, seed=14, lag_s=8)
        assert 0.05 < exact.p_rolled_back < 0.95
        assert consistent(sim.rolled_back, RUNS, exact.p_rolled_back)
        lib = simulate(spec, Traffic(1, metrics_lag_s=8), 0.05, runs=RUNS, seed=15)
        sim = simulate_requests(spec, 1, 0.05, RUNS, seed=16, lag_s=8)
        assert same_probability(round(lib.p_promoted * RUNS), RUNS, sim.promoted, RUNS)

    def test_monte_carlo_is_reproducible(self):
        a = simulate(SEED, Traffic(1), 0.05, runs=2000, seed=5)
        b = simulate(SEED, Traffic(1), 0.05, runs=2000, seed=5)
        assert a.p_promoted == b.p_promoted
