"""Canary weight stepping, tick by tick (SEMANTICS.md §2 defaults, §3 names, §4 step 11)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_fakes import (
    CANARY,
    PRIMARY,
    TARGET,
    hook,
    make_spec,
    new_rig,
    seed_spec,
    trail,
    with_hooks,
)

from progressive.engine import expected_ticks, rollout_bounds
from progressive.errors import InvalidSpec
from progressive.model.types import Analysis, HookType

P, PROMOTING, FINALISING, SUCCEEDED = "Progressing", "Promoting", "Finalising", "Succeeded"

# analysis fields -> the canary weights the router must see, in order
STEPPING = {
    "step 10 to max 30": (dict(step_weight=10, max_weight=30), [10, 20, 30]),
    "step 20 overshoots max 50": (dict(step_weight=20, max_weight=50), [20, 40, 60]),
    "stepWeights walk the list": (dict(step_weights=(1, 5, 25, 50)), [1, 5, 25, 50]),
    "stepWeights: last entry is the max": (dict(step_weights=(10, 40), max_weight=100), [10, 40]),
    "maxWeight defaults to 100": (dict(step_weight=25), [25, 50, 75, 100]),
    "overshoot is capped at 100": (dict(step_weight=40, max_weight=90), [40, 80, 100]),
    "the seed: step 10 to max 50": (dict(step_weight=10, max_weight=50), [10, 20, 30, 40, 50]),
}


@pytest.mark.parametrize("analysis, weights", STEPPING.values(), ids=STEPPING.keys())
def test_weights_walk_the_spec_then_promote(analysis, weights):
    rig = new_rig(**analysis).initialised()
    states = rig.rollout()
    assert trail(states) == (
        [(P, 0)] + [(P, w) for w in weights] + [(PROMOTING, weights[-1]), (FINALISING, 0), (SUCCEEDED, 0)]
    )
    assert rig.router.set_calls() == (
        [(100, 0, False)] + [(100 - w, w, False) for w in weights] + [(100, 0, False)]
    )
    assert trail(states) == [(t.phase.value, t.canary_weight) for t in expected_ticks(rig.spec)]


def test_step_10_max_30_takes_exactly_the_ticks_of_semantics():
    """detect; pre-rollout + 10; 20; 30; analysis passes at 30 -> Promoting; 100/0 -> Finalising;
    canary scaled to zero -> Succeeded."""
    spec = with_hooks(make_spec(step_weight=10, max_weight=30),
                      hook("pre", HookType.PRE_ROLLOUT), hook("roll", HookType.ROLLOUT))
    rig = new_rig(spec).initialised()
    rig.deploy("v2")
    states = rig.steps(7)
    assert trail(states) == [(P, 0), (P, 10), (P, 20), (P, 30), (PROMOTING, 30), (FINALISING, 0),
                             (SUCCEEDED, 0)]
    analysis = ["hook", "check", "check"]
    assert rig.actions_per_tick()[1:] == [
        ["new_revision"],  # detect: canary scaled up; the analysis starts next tick
        ["hook", "step"],  # first analysis tick: pre-rollout only, then the first step
        analysis + ["step"],
        analysis + ["step"],
        analysis + ["promote"],
        ["finalise"],
        ["succeed"],
    ]
    assert rig.hooks.names() == ["pre", "roll", "roll", "roll"]
    assert [s.failed_checks for s in states] == [0] * 7
    assert rig.workloads.version(PRIMARY) == "v2"
    assert rig.workloads.replicas(CANARY) == 0
    assert states[-1].last_promoted_spec == states[-1].last_applied_spec


def test_the_seed_canary_promotes_through_10_to_50_in_eight_intervals():
    rig = new_rig(seed_spec()).initialised()
    rig.deploy("v2")
    detected = rig.clock.now()
    states = rig.until(lambda s: s.phase.value == SUCCEEDED)
    assert [s.canary_weight for s in states if s.phase.value == P] == [0, 10, 20, 30, 40, 50]
    finished = rig.events.of("succeed")[0]["t"]
    assert finished - detected == 8 * 15 == rollout_bounds(rig.spec)[0]


def test_short_intervals_are_kept_and_time_scale_shrinks_the_spec():
    """No 10s floor (Flagger has one): a time-scaled spec ticks at 1.5s."""
    rig = new_rig(seed_spec().scaled(0.1)).initialised()
    rig.deploy("v2")
    rig.until(lambda s: s.phase.value == SUCCEEDED)
    times = [e["t"] for e in rig.events.of("tick")]
    gaps = {round(b - a, 6) for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {1.5}


def test_default_interval_is_60s():
    spec = replace(make_spec(), analysis=Analysis(step_weight=50, metrics=make_spec().analysis.metrics))
    rig = new_rig(spec).initialised()
    rig.deploy("v2")
    start = rig.clock.now()
    assert rig.engine.run_until_done().phase.value == SUCCEEDED
    # detect, 50, 100, Promoting, Finalising, Succeeded: five 60s intervals
    assert rig.clock.now() - start == 5 * 60 == rollout_bounds(spec)[0]


def test_workloads_and_routes_use_the_names_of_semantics():
    rig = new_rig(step_weight=50).initialised(replicas=3)
    rig.rollout()
    names = {c[1] for c in rig.workloads.calls}
    assert names == {TARGET, PRIMARY, CANARY}
    assert ("deploy", CANARY, "v2", 3) in rig.workloads.calls  # the target's replica count
    assert ("deploy", PRIMARY, "v2", None) in rig.workloads.calls  # primary keeps its replicas


def test_a_canary_without_steps_is_refused():
    with pytest.raises(InvalidSpec, match="stepWeight"):
        new_rig(step_weight=0)


def test_weights_never_exceed_100_and_always_sum_to_100():
    rig = new_rig(step_weight=30, max_weight=100).initialised()
    rig.rollout()
    for primary, canary, _ in rig.router.set_calls():
        assert 0 <= canary <= 100 and primary + canary == 100
    assert [c for _, c, _ in rig.router.set_calls()] == [0, 30, 60, 90, 100, 0]
