"""Metric checks, failed-check counting and the threshold rollback (SEMANTICS.md §4 steps 9-10, §7)."""

from __future__ import annotations

import math

import pytest
from engine_fakes import CANARY, DURATION, SUCCESS_RATE, Rig, make_spec, new_rig, trail

from progressive.engine import Engine, rollback_bound
from progressive.engine.checks import judge
from progressive.metrics import builtin
from progressive.metrics.base import NoValues, QueryFailed
from progressive.model.types import MetricCheck, MetricKind

PASS, FAIL = 99.9, 94.8


def analysis_ticks(rig: Rig) -> list[list[str]]:
    """Per tick, the check events (analysis ticks only)."""
    return [[a for a in t if a.startswith("check")] for t in rig.actions_per_tick()]


def test_failed_checks_count_failures_in_the_run_not_consecutive_ones():
    rig = new_rig(step_weight=10, max_weight=50, threshold=3).initialised()
    rig.metrics.set("request-success-rate", [FAIL, PASS, FAIL, PASS, FAIL, PASS])
    states = rig.rollout()
    assert [(s.phase.value, s.canary_weight, s.failed_checks) for s in states] == [
        ("Progressing", 0, 0),  # detect
        ("Progressing", 10, 0),  # pre-rollout, step
        ("Progressing", 10, 1),  # fail: no step
        ("Progressing", 20, 1),  # pass: step, failedChecks NOT reset
        ("Progressing", 20, 2),
        ("Progressing", 30, 2),
        ("Progressing", 30, 3),  # third failure
        ("Failed", 0, 3),  # rollback at the start of the next tick
    ]


def test_rollback_happens_at_the_start_of_the_tick_after_the_nth_failure():
    rig = new_rig(step_weight=10, max_weight=50, threshold=2).initialised()
    rig.metrics.set("request-success-rate", [PASS, FAIL])  # fails from the 2nd analysis tick on
    rig.deploy("v2")
    detected = rig.clock.now()
    states = rig.until(lambda s: s.phase.value == "Failed")
    assert trail(states) == [("Progressing", 0), ("Progressing", 10), ("Progressing", 20),
                             ("Progressing", 20), ("Progressing", 20), ("Failed", 0)]
    assert [s.failed_checks for s in states] == [0, 0, 0, 1, 2, 2]
    assert max(c for _, c, _ in rig.router.set_calls()) == 20  # never beyond the reached weight
    assert rig.router.set_calls()[-1] == (100, 0, False)
    last_tick = rig.actions_per_tick()[-1]
    assert "check" not in last_tick and "check_failed" not in last_tick  # no analysis first
    assert last_tick[0] == "rollback"
    first_fail = rig.events.of("check_failed")[0]["t"]
    rolled_back = rig.events.of("rollback")[0]["t"]
    assert rolled_back - first_fail == 2 * 15 <= rollback_bound(rig.spec)
    assert rolled_back - detected == 5 * 15


def test_a_failed_check_ends_the_tick_before_the_other_checks():
    rig = new_rig(step_weight=10, max_weight=30, threshold=5).initialised()
    rig.metrics.set("request-success-rate", [PASS, FAIL, PASS])
    rig.deploy("v2")
    rig.steps(4)  # detect, pre-rollout, pass, fail
    assert analysis_ticks(rig)[-1] == ["check_failed"]  # duration not queried that tick
    assert rig.metrics.queries[-1] == "request-success-rate"


@pytest.mark.parametrize(
    "answer, message",
    [
        (NoValues("empty result"), "no data for request-success-rate"),
        (math.nan, "no data for request-success-rate (NaN)"),
        (QueryFailed("timed out after 5s"), "query failed for request-success-rate: timed out after 5s"),
        (FAIL, "request-success-rate 94.80 < min 99"),
    ],
    ids=["no data", "NaN", "query error", "below min"],
)
def test_no_data_nan_and_query_errors_are_failed_checks(answer, message):
    rig = new_rig(step_weight=10, max_weight=30, threshold=1).initialised()
    rig.metrics.set("request-success-rate", [answer])
    states = rig.rollout()
    assert [s.failed_checks for s in states] == [0, 0, 1, 1]
    assert states[-1].phase.value == "Failed"
    assert rig.events.of("check_failed")[0]["message"] == message


def test_no_data_for_duration_is_reported_by_name():
    rig = new_rig(step_weight=10, max_weight=30, threshold=1).initialised()
    rig.metrics.set("request-duration", [NoValues("")])
    rig.rollout()
    assert rig.events.of("check_failed")[0]["message"] == "no data for request-duration"


def test_on_no_data_pass_is_an_explicit_opt_in_that_does_not_cover_errors():
    quiet = MetricCheck("request-success-rate", MetricKind.REQUEST_SUCCESS_RATE, min=99,
                        on_no_data="pass")
    rig = new_rig(step_weight=10, max_weight=30, threshold=1, metrics=(quiet, DURATION)).initialised()
    rig.metrics.set("request-success-rate", [NoValues(""), math.nan, QueryFailed("503")])
    states = rig.rollout()
    assert trail(states)[:4] == [("Progressing", 0), ("Progressing", 10), ("Progressing", 20),
                                 ("Progressing", 30)]  # no data and NaN passed
    assert states[-1].phase.value == "Failed"  # the query error still failed
    assert [e["message"] for e in rig.events.of("check")][0] == (
        "no data for request-success-rate: passes (onNoData: pass)")


@pytest.mark.parametrize("threshold", [0, -3])
def test_a_threshold_of_zero_or_less_means_one(threshold):
    rig = new_rig(step_weight=10, max_weight=30, threshold=threshold).initialised()
    rig.metrics.set("request-success-rate", [FAIL])
    states = rig.rollout()
    assert [s.phase.value for s in states][-2:] == ["Progressing", "Failed"]
    assert states[-1].failed_checks == 1


@pytest.mark.parametrize(
    "check, value, ok, message",
    [
        (SUCCESS_RATE, 94.8, False, "request-success-rate 94.80 < min 99"),
        (SUCCESS_RATE, 99.0, True, "request-success-rate 99.00 >= min 99"),
        (DURATION, 812, False, "request-duration 812.00 > max 500"),
        (DURATION, 500, True, "request-duration 500.00 <= max 500"),
        (MetricCheck("errors", MetricKind.CUSTOM, max=5, query="q"), 7, False, "errors 7.00 > max 5"),
        (MetricCheck("band", MetricKind.CUSTOM, min=1, max=5, query="q"), 3, True,
         "band 3.00 >= min 1 and <= max 5"),
    ],
)
def test_success_rate_is_a_minimum_and_duration_a_maximum(check, value, ok, message):
    verdict = judge(check, value)
    assert (verdict.ok, verdict.message) == (ok, message)


def test_the_builtin_queries_target_the_canary_workload_in_its_namespace():
    """Without an injected query_for the engine asks progressive.metrics.builtin for the text."""
    custom = MetricCheck("errors", MetricKind.CUSTOM, max=1,
                         query='sum(errors{ns="{{ namespace }}",wl="{{ target }}"})')
    spec = make_spec(step_weight=50, metrics=(SUCCESS_RATE, DURATION, custom))
    rig = new_rig(spec)
    rig.engine = Engine(spec, rig.router, rig.metrics, rig.workloads, rig.clock, rig.store,
                        rig.events, hooks=rig.hooks)
    texts = {c.name: builtin.query_for(c, "jx-production", CANARY) for c in spec.analysis.metrics}
    assert 'destination_workload=~"croc-hunter-canary"' in texts["request-success-rate"]
    assert "[1m]" in texts["request-duration"]  # the default query window
    assert texts["errors"] == 'sum(errors{ns="jx-production",wl="croc-hunter-canary"})'
    for name, value in (("request-success-rate", PASS), ("request-duration", 120), ("errors", 0)):
        rig.metrics.set(texts[name], value)
    rig.initialised()
    assert rig.rollout()[-1].phase.value == "Succeeded"
    assert rig.metrics.queries[:3] == [texts["request-success-rate"], texts["request-duration"],
                                       texts["errors"]]


def test_a_check_whose_query_cannot_be_built_fails():
    broken = MetricCheck("broken", MetricKind.CUSTOM, max=1, query=None)
    spec = make_spec(step_weight=50, threshold=1, metrics=(broken,))
    rig = new_rig(spec)
    rig.engine = Engine(spec, rig.router, rig.metrics, rig.workloads, rig.clock, rig.store,
                        rig.events, hooks=rig.hooks)
    rig.initialised()
    assert rig.rollout()[-1].phase.value == "Failed"
    assert rig.events.of("check_failed")[0]["message"].startswith("cannot build the query for broken")
