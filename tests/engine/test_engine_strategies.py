"""Blue-green (iterations), A/B (match + iterations) and mirroring (SEMANTICS.md §9, §10)."""

from __future__ import annotations

from engine_fakes import hook, make_spec, new_rig, trail, with_hooks

from progressive.engine import expected_ticks
from progressive.model.types import HeaderMatch, HookType, MatchKind, RequestMatch

P = "Progressing"
INSIDERS = (RequestMatch(headers=(HeaderMatch("x-canary", MatchKind.EXACT, "insider"),)),)


def expected(spec) -> list[tuple[str, int]]:
    return [(t.phase.value, t.canary_weight) for t in expected_ticks(spec)]


# -- blue-green ------------------------------------------------------------------------------


def test_blue_green_analyses_without_traffic_then_switches_everything_at_once():
    spec = with_hooks(make_spec(iterations=3), hook("pre", HookType.PRE_ROLLOUT))
    rig = new_rig(spec).initialised()
    states = rig.rollout()
    assert trail(states) == [
        (P, 0),  # detect
        (P, 0),  # tick 1: pre-rollout, no traffic to the new version
        (P, 0),  # tick 2: analysis (preview address only)
        (P, 0),  # tick 3 = N
        (P, 100),  # N+1: analysis passes, all traffic switched in one step
        ("Promoting", 100),  # N+2: analysis under full traffic passes, promote
        ("Finalising", 0),  # back to 100/0 on the (now new) primary
        ("Succeeded", 0),
    ]
    assert [s.iterations for s in states[:6]] == [0, 1, 2, 3, 4, 4]
    assert rig.router.set_calls() == [(100, 0, False), (0, 100, False), (100, 0, False)]
    ticks = rig.actions_per_tick()[2:]
    assert ticks[0] == ["hook", "step"]  # pre-rollout only
    assert ticks[1] == ticks[2] == ticks[3] == ["check", "check", "step"]
    assert ticks[4] == ["check", "check", "promote"]
    assert trail(states) == expected(spec)


def test_blue_green_waits_for_promotion_approval_before_the_switch():
    spec = with_hooks(make_spec(iterations=2), hook("ship", HookType.CONFIRM_PROMOTION))
    rig = new_rig(spec).initialised()
    rig.hooks.answers["ship"] = [False, False, True]
    states = rig.rollout()
    assert trail(states)[:6] == [(P, 0), (P, 0), (P, 0), ("WaitingPromotion", 0),
                                 ("WaitingPromotion", 0), ("WaitingPromotion", 100)]
    assert states[-1].phase.value == "Succeeded"


def test_blue_green_rolls_back_from_full_traffic():
    rig = new_rig(iterations=2, threshold=1).initialised()
    rig.metrics.set("request-success-rate", [99.9, 99.9, 90.0])  # fails under full traffic
    states = rig.rollout()
    assert trail(states)[-3:] == [(P, 100), (P, 100), ("Failed", 0)]
    assert rig.router.set_calls()[-1] == (100, 0, False)


def test_blue_green_with_mirroring_mirrors_during_the_iterations():
    rig = new_rig(iterations=2, mirror=True).initialised()
    states = rig.rollout()
    assert rig.router.set_calls() == [(100, 0, False), (100, 0, True), (0, 100, False),
                                      (100, 0, False)]
    assert [s.mirrored for s in states[:4]] == [False, True, True, False]


# -- A/B -------------------------------------------------------------------------------------


def test_ab_routes_matching_requests_to_the_canary_for_n_iterations_then_promotes():
    rig = new_rig(iterations=3, match=INSIDERS).initialised()
    states = rig.rollout()
    assert trail(states) == [
        (P, 0),  # detect
        (P, 100),  # pre-rollout; matching requests to the canary (router applies the match)
        (P, 100),
        (P, 100),  # iteration 3 = N
        ("Promoting", 100),  # analysis passes: promote
        ("Finalising", 0),
        ("Succeeded", 0),
    ]
    assert [s.iterations for s in states[:5]] == [0, 1, 2, 3, 3]
    assert rig.router.set_calls() == [(100, 0, False), (0, 100, False), (100, 0, False)]
    assert trail(states) == expected(rig.spec)


def test_ab_rolls_back_when_the_matching_traffic_fails():
    rig = new_rig(iterations=5, match=INSIDERS, threshold=2).initialised()
    rig.metrics.set("request-success-rate", 50.0)
    states = rig.rollout()
    assert trail(states) == [(P, 0), (P, 100), (P, 100), (P, 100), ("Failed", 0)]


# -- mirroring (canary strategy) -------------------------------------------------------------


def test_mirroring_sends_a_copy_at_weight_0_before_the_first_real_step():
    """Flagger's order: pre-rollout + mirror on; analysis on mirrored traffic + first step."""
    spec = with_hooks(make_spec(step_weight=10, max_weight=30, mirror=True),
                      hook("more", HookType.CONFIRM_TRAFFIC_INCREASE),
                      hook("pre", HookType.PRE_ROLLOUT))
    rig = new_rig(spec).initialised()
    states = rig.rollout()
    assert [(s.phase.value, s.canary_weight, s.mirrored) for s in states] == [
        (P, 0, False),  # detect
        (P, 0, True),  # pre-rollout, then mirror a copy of the traffic to the canary
        (P, 10, False),  # analysis on the mirrored traffic passes; stop mirroring, weight 10
        (P, 20, False),
        (P, 30, False),
        ("Promoting", 30, False),
        ("Finalising", 0, False),
        ("Succeeded", 0, False),
    ]
    assert rig.router.set_calls()[1:3] == [(100, 0, True), (90, 10, False)]
    ticks = rig.actions_per_tick()[2:4]
    assert ticks[0] == ["hook", "hook", "step"]  # pre-rollout, confirm-traffic-increase, mirror
    assert ticks[1] == ["check", "check", "step"]  # no gate when mirroring turns into 10
    assert rig.hooks.names() == ["pre", "more", "more", "more"]  # mirror, 20, 30
    assert trail(states) == expected(spec)


def test_mirroring_analysis_failures_count_and_roll_back_the_mirror():
    rig = new_rig(step_weight=10, max_weight=30, mirror=True, threshold=1).initialised()
    rig.metrics.set("request-success-rate", 80.0)
    states = rig.rollout()
    assert [(s.canary_weight, s.mirrored, s.phase.value) for s in states] == [
        (0, False, P), (0, True, P), (0, True, P), (0, False, "Failed")]
    assert rig.router.set_calls()[-1] == (100, 0, False)
