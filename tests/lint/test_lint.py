"""lint(spec, rps): the verdict, its reasons, the warnings and their fixes, durations."""

from __future__ import annotations

import math
import re

import pytest
from lint_specs import SEED, variant

from progressive.errors import UserError
from progressive.lint import lint
from progressive.model.types import RequestMatch


class TestSeedCanary:
    def test_one_request_per_second_is_flagged_with_the_reasons(self):
        report = lint(SEED, 1)
        assert report.exit_code == 1
        assert len(report.reasons) == 1
        assert re.search(r"bad release \(error rate 5\.00%\) is promoted anyway with "
                         r"probability 4\d\.\d%", report.reasons[0])
        assert "catches only error rates >= 86.5%" in report.reasons[0]
        first = report.steps[0].checks[0]
        assert first.expected_requests == pytest.approx(1.5)
        assert first.p_no_data == pytest.approx(math.exp(-1.5))
        assert any("at weight 10% and 1 req/s the first check after the step sees no request "
                   "with probability 22.3%" in w and "raise the load to >= 3.1 req/s" in w
                   and "the interval and the window to >= 47s" in w for w in report.warnings)

    def test_hundred_requests_per_second_passes(self):
        report = lint(SEED, 100)
        assert report.exit_code == 0, report.reasons
        assert report.good["p_rolled_back"] < 1e-9
        assert report.bad["p_promoted"] == 0.0
        assert report.warnings == []

    def test_durations(self):
        d = lint(SEED, 100).durations
        assert d["nominal_rollout_s"] == 120  # detect, 5 weights, promote, finalise, succeed
        assert d["earliest_rollback_s"] == 105  # 5 failures at ticks 3-7, rollback at tick 8
        assert 105 <= d["expected_bad_rollback_s"] < 106  # a bad release rarely passes a check

    def test_the_suggested_load_removes_the_no_data_warning(self):
        assert not any("no request" in w for w in lint(SEED, 3.1).warnings)

    def test_time_scale_keeps_the_spec_units_in_the_fix(self):
        # at time scale 0.1 and 10 req/s the windows hold as many requests as at 1 req/s
        report = lint(SEED, 10, time_scale=0.1)
        assert report.steps[0].checks[0].expected_requests == pytest.approx(1.5)
        assert any("raise the load to >= 31 req/s" in w and ">= 47s" in w
                   for w in report.warnings)

    def test_good_release_with_errors_is_sampled(self):
        report = lint(SEED, 100, error_rate=0.002)
        assert report.good["method"] == "monte-carlo"
        lo, hi = report.good["p_rolled_back_95"]
        assert lo <= report.good["p_rolled_back"] <= hi


class TestStrategies:
    def test_blue_green_without_a_load_tester_is_rolled_back(self):
        report = lint(variant(iterations=5, threshold=2), 100)
        assert report.good["p_rolled_back"] == pytest.approx(1.0)
        assert any(w.startswith("blue-green: the canary gets no production traffic")
                   for w in report.warnings)

    def test_blue_green_with_a_load_tester(self):
        report = lint(variant(iterations=5, threshold=2), 100, canary_rps=10)
        assert report.exit_code == 0, report.reasons
        assert report.good["expected_failed_checks_if_promoted"] == pytest.approx(1.0)

    def test_ab_needs_the_matching_share(self):
        spec = variant(iterations=5, match=(RequestMatch(uri_prefix="/"),))
        with pytest.raises(UserError, match="--match-share"):
            lint(spec, 100)
        assert lint(spec, 100, match_share=0.1).steps[0].canary_rps == pytest.approx(10)


class TestInputs:
    @pytest.mark.parametrize("kwargs", [
        {"error_rate": 1.5}, {"bad_error_rate": -0.1}, {"time_scale": 0.0},
        {"canary_rps": math.nan}, {"max_false_rollback": 2.0}, {"match_share": 0.0},
    ])
    def test_bad_numbers_are_user_errors(self, kwargs):
        with pytest.raises(UserError):
            lint(SEED, 10, **kwargs)

    def test_negative_load(self):
        with pytest.raises(UserError, match="--rps"):
            lint(SEED, -1)
