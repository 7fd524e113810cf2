"""expected_ticks / rollout_bounds / rollback_bound agree with what the engine does."""

from __future__ import annotations

import pytest
from engine_fakes import CANARY, make_spec, new_rig, trail
from hypothesis import given, settings
from hypothesis import strategies as st

from progressive.engine import (
    expected_ticks,
    progress_deadline_bound,
    rollback_bound,
    rollout_bounds,
    run_bound,
)
from progressive.model.types import HeaderMatch, MatchKind, RequestMatch
from progressive.workloads.base import Readiness

MATCH = (RequestMatch(headers=(HeaderMatch("cookie", MatchKind.REGEX, "^(.*?;)?(beta=1)(;.*)?$"),)),)

SPECS = {
    "seed": dict(step_weight=10, max_weight=50),
    "stepWeights": dict(step_weights=(1, 5, 25, 50)),
    "overshoot": dict(step_weight=20, max_weight=50),
    "mirror": dict(step_weight=25, max_weight=50, mirror=True),
    "stepWeightPromotion": dict(step_weight=20, max_weight=60, step_weight_promotion=25),
    "blue-green": dict(iterations=4),
    "blue-green + mirror": dict(iterations=2, mirror=True),
    "A/B": dict(iterations=3, match=MATCH),
    "A/B + stepWeightPromotion": dict(iterations=2, match=MATCH, step_weight_promotion=40),
    "skipAnalysis": dict(step_weight=10, skip_analysis=True),
}


def healthy_run(spec):
    rig = new_rig(spec).initialised()
    rig.deploy("v2")
    detected = rig.clock.now()
    states = rig.until(lambda s: s.phase.value in ("Succeeded", "Failed"))
    return trail(states), rig.events.of("succeed")[0]["t"] - detected


@pytest.mark.parametrize("analysis", SPECS.values(), ids=SPECS.keys())
def test_expected_ticks_and_the_minimum_duration_match_a_healthy_run(analysis):
    spec = make_spec(**analysis)
    ticks, took = healthy_run(spec)
    assert ticks == [(t.phase.value, t.canary_weight) for t in expected_ticks(spec)]
    assert took == rollout_bounds(spec)[0]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    step=st.integers(1, 100),
    top=st.integers(1, 100),
    promotion_step=st.sampled_from([0, 0, 10, 35, 100]),
    mirror=st.booleans(),
)
def test_expected_ticks_match_the_engine_for_any_weight_spec(step, top, promotion_step, mirror):
    spec = make_spec(step_weight=step, max_weight=top, step_weight_promotion=promotion_step,
                     mirror=mirror)
    assert healthy_run(spec)[0] == [(t.phase.value, t.canary_weight) for t in expected_ticks(spec)]


@settings(max_examples=50, deadline=None, derandomize=True)
@given(weights=st.lists(st.integers(1, 100), min_size=1, max_size=6, unique=True).map(sorted))
def test_expected_ticks_match_the_engine_for_any_step_weights(weights):
    spec = make_spec(step_weights=tuple(weights))
    assert healthy_run(spec)[0] == [(t.phase.value, t.canary_weight) for t in expected_ticks(spec)]


def test_rollout_bounds_allow_detection_latency_and_readiness_waits():
    spec = make_spec(step_weight=10, max_weight=30)  # 7 ticks: 6 intervals
    assert rollout_bounds(spec) == (90.0, 135.0)
    assert rollout_bounds(spec, readiness_ticks=0) == (90.0, 105.0)
    assert rollout_bounds(spec.scaled(0.1)) == pytest.approx((9.0, 13.5))


def test_a_rollout_with_slow_readiness_stays_within_the_maximum():
    spec = make_spec(step_weight=10, max_weight=30)
    rig = new_rig(spec).initialised()
    slow = iter([Readiness(False, True, "starting")])
    rig.workloads.readiness[CANARY] = lambda: next(slow, Readiness(True))
    rig.engine.tick()  # an idle tick; the revision lands 1s after it
    rig.clock.advance(1.0)
    rig.deploy("v2")
    landed = rig.clock.now()
    rig.clock.advance(14.0)
    rig.until(lambda s: s.phase.value == "Succeeded")
    took = rig.events.of("succeed")[0]["t"] - landed
    lo, hi = rollout_bounds(spec)
    assert took == 14 + 6 * 15 + 15  # detection latency, 6 intervals, one readiness tick
    assert lo < took <= hi


def test_rollback_bound_is_threshold_intervals_plus_one_tick():
    assert rollback_bound(make_spec(step_weight=10, threshold=5)) == 6 * 15
    assert rollback_bound(make_spec(step_weight=10, threshold=0)) == 2 * 15  # threshold 0 means 1


@pytest.mark.parametrize("threshold", [1, 2, 5])
def test_the_engine_rolls_back_within_the_rollback_bound(threshold):
    spec = make_spec(step_weight=10, max_weight=100, threshold=threshold)
    rig = new_rig(spec).initialised()
    rig.metrics.set("request-success-rate", [99.9, 99.9, 50.0])
    rig.rollout()
    first_fail = rig.events.of("check_failed")[0]["t"]
    rolled_back = rig.events.of("rollback")[0]["t"]
    assert rolled_back - first_fail == threshold * 15 < rollback_bound(spec)


def test_progress_deadline_and_run_bounds_follow_the_spec():
    spec = make_spec(step_weight=10, max_weight=30, threshold=5, progress_deadline_s=120)
    assert progress_deadline_bound(spec) == 135
    assert run_bound(spec) == rollout_bounds(spec)[1] + 5 * 15 + 2 * 120
