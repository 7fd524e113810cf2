"""Initialisation, revisions, readiness, deadlines, promotion and rollback (SEMANTICS.md §4-§6)."""

from __future__ import annotations

from engine_fakes import CANARY, PRIMARY, TARGET, hook, make_spec, new_rig, trail, with_hooks

from progressive.engine import expected_ticks, progress_deadline_bound
from progressive.model.types import HookType
from progressive.workloads.base import AppVersion, Readiness

NOT_READY = Readiness(False, True, "1/3 replicas ready")
FAILED_FOR_GOOD = Readiness(False, False, "progress deadline exceeded")


def hash_of(version: str) -> str:
    return AppVersion(version).spec_hash()


# -- 1. initialisation -----------------------------------------------------------------------


def test_initialisation_creates_the_primary_routes_100_0_and_scales_the_target_to_zero():
    rig = new_rig(step_weight=10)
    rig.workloads.deploy(TARGET, AppVersion("v1"), replicas=3)
    state = rig.step()
    assert state.phase.value == "Initialized"
    assert rig.workloads.calls[1:] == [("deploy", PRIMARY, "v1", 3), ("scale", TARGET, 0)]
    assert rig.router.calls == [("reconcile",), ("set_routes", 100, 0, False)]
    assert state.last_applied_spec == state.last_promoted_spec == hash_of("v1")
    assert (state.primary_weight, state.canary_weight) == (100, 0)


def test_initialisation_waits_for_the_primary_and_happens_once():
    rig = new_rig(step_weight=10)
    rig.workloads.deploy(TARGET, AppVersion("v1"), replicas=2)
    rig.workloads.readiness[PRIMARY] = NOT_READY
    assert [s.phase.value for s in rig.steps(2)] == ["Initializing", "Initializing"]
    assert rig.router.calls == []
    del rig.workloads.readiness[PRIMARY]
    assert [s.phase.value for s in rig.steps(3)] == ["Initialized"] * 3
    assert rig.router.calls == [("reconcile",), ("set_routes", 100, 0, False)]
    assert [c for c in rig.workloads.calls if c[1] == PRIMARY] == [("deploy", PRIMARY, "v1", 2)]


def test_an_existing_primary_is_adopted_with_its_replica_count():
    rig = new_rig(step_weight=50)
    rig.workloads.deploy(PRIMARY, AppVersion("v1"), replicas=4)  # left by an earlier engine
    rig.workloads.deploy(TARGET, AppVersion("v1"), replicas=0)
    assert rig.step().phase.value == "Initialized"
    assert [c for c in rig.workloads.calls if c[1] == PRIMARY] == [("deploy", PRIMARY, "v1", 4)]
    rig.deploy("v2")
    rig.step()
    assert rig.workloads.replicas(CANARY) == 4


# -- 2. nothing to do / revert ---------------------------------------------------------------


def test_without_a_new_revision_a_tick_does_nothing():
    rig = new_rig(step_weight=10).initialised()
    calls = (list(rig.router.calls), list(rig.workloads.calls))
    rig.steps(5)
    assert (rig.router.calls, rig.workloads.calls) == calls
    assert rig.metrics.queries == [] and rig.hooks.calls == []


def test_a_revert_to_the_promoted_revision_starts_nothing():
    rig = new_rig(step_weight=10, threshold=1).initialised()
    rig.metrics.set("request-success-rate", 90.0)
    assert rig.rollout("v2")[-1].phase.value == "Failed"
    calls = len(rig.workloads.calls)
    rig.deploy("v1")  # the user reverts the target to what the primary serves
    states = rig.steps(3)
    assert [s.phase.value for s in states] == ["Failed"] * 3
    assert rig.workloads.calls[calls + 1:] == []  # only the user's own deploy
    assert states[-1].last_applied_spec == hash_of("v1")
    assert rig.events.of("wait")[-1]["message"].startswith("target back at the promoted revision")


def test_the_same_failed_revision_is_not_retried_but_a_new_one_starts():
    rig = new_rig(step_weight=50, threshold=1).initialised()
    rig.metrics.set("request-success-rate", [90.0, 99.9])
    rig.rollout("v2")
    assert [s.phase.value for s in rig.steps(2)] == ["Failed", "Failed"]
    assert rig.rollout("v3")[-1].phase.value == "Succeeded"
    assert rig.workloads.version(PRIMARY) == "v3"


# -- 5/6. new revision, restart --------------------------------------------------------------


def test_a_new_revision_scales_the_canary_up_resets_counters_and_ends_the_tick():
    rig = new_rig(step_weight=50, threshold=2).initialised(replicas=3)
    rig.metrics.set("request-success-rate", [90.0, 99.9])
    rig.rollout("v2")
    rig.metrics.set("request-success-rate", 99.9)
    queries = len(rig.metrics.queries)
    rig.deploy("v3")
    state = rig.step()
    assert (state.phase.value, state.canary_weight, state.failed_checks, state.iterations) == (
        "Progressing", 0, 0, 0)
    assert rig.workloads.calls[-1] == ("deploy", CANARY, "v3", 3)
    assert len(rig.metrics.queries) == queries  # analysis starts next tick
    assert state.last_applied_spec == hash_of("v3")


def test_user_given_target_replicas_size_the_canary_and_the_target_goes_back_to_zero():
    rig = new_rig(step_weight=50).initialised(replicas=3)
    rig.workloads.deploy(TARGET, AppVersion("v2"), replicas=5)
    rig.step()
    assert rig.workloads.replicas(CANARY) == 5 and rig.workloads.replicas(TARGET) == 0


def test_a_revision_change_during_the_analysis_restarts_it_without_a_rollback():
    rig = new_rig(step_weight=10, max_weight=50, threshold=3).initialised()
    rig.metrics.set("request-success-rate", [99.9, 90.0, 99.9])
    rig.deploy("v2")
    states = rig.steps(5)  # detect, 10, 20, fail, 30
    assert (states[-1].canary_weight, states[-1].failed_checks) == (30, 1)
    rig.deploy("v3")
    restarted = rig.step()
    assert (restarted.phase.value, restarted.canary_weight, restarted.failed_checks,
            restarted.iterations) == ("Progressing", 0, 0, 0)
    assert rig.router.set_calls()[-1] == (100, 0, False)
    assert rig.workloads.calls[-1] == ("deploy", CANARY, "v3", 3)
    assert rig.events.of("rollback") == [] and rig.events.of("restart")
    rest = rig.until(lambda s: s.phase.value == "Succeeded")
    assert trail(rest)[0] == ("Progressing", 10)  # pre-rollout again, then the first step
    assert rig.workloads.version(PRIMARY) == "v3"


def test_a_revision_change_while_waiting_for_promotion_restarts_too():
    rig = new_rig(with_hooks(make_spec(step_weight=50), hook("approve", HookType.CONFIRM_PROMOTION)))
    rig.hooks.answers["approve"] = False
    rig.initialised().deploy("v2")
    assert rig.steps(5)[-1].phase.value == "WaitingPromotion"
    rig.deploy("v3")
    assert rig.step().phase.value == "Progressing"
    assert rig.events.of("restart")


# -- 3/7. readiness and deadlines ------------------------------------------------------------


def test_a_primary_that_is_not_ready_is_waited_for_without_counting():
    rig = new_rig(step_weight=10, max_weight=30).initialised()
    rig.deploy("v2")
    rig.steps(2)  # detect, 10
    rig.workloads.readiness[PRIMARY] = NOT_READY
    waiting = rig.steps(3)
    assert [(s.phase.value, s.canary_weight, s.failed_checks) for s in waiting] == [
        ("Progressing", 10, 0)] * 3
    assert rig.metrics.queries == []
    del rig.workloads.readiness[PRIMARY]
    assert rig.until(lambda s: s.phase.value == "Succeeded")[0].canary_weight == 20


def test_a_primary_failed_for_good_rolls_the_run_back():
    rig = new_rig(step_weight=10, max_weight=30).initialised()
    rig.deploy("v2")
    rig.steps(2)
    rig.workloads.readiness[PRIMARY] = FAILED_FOR_GOOD
    state = rig.step()
    assert (state.phase.value, state.canary_weight) == ("Failed", 0)
    assert rig.router.set_calls()[-1] == (100, 0, False)


def test_a_canary_that_is_not_ready_is_waited_for_without_counting():
    rig = new_rig(step_weight=10, max_weight=30).initialised()
    rig.workloads.readiness[CANARY] = NOT_READY
    rig.deploy("v2")
    states = rig.steps(4)
    assert trail(states) == [("Progressing", 0)] * 4
    assert all(s.failed_checks == 0 for s in states) and rig.hooks.calls == []
    del rig.workloads.readiness[CANARY]
    assert rig.until(lambda s: s.phase.value == "Succeeded")[0].canary_weight == 10


def test_a_canary_never_ready_rolls_back_when_the_progress_deadline_passes():
    rig = new_rig(step_weight=10).initialised()  # default progressDeadlineSeconds: 600
    assert rig.spec.progress_deadline_s == 600
    rig.workloads.readiness[CANARY] = NOT_READY
    rig.deploy("v2")
    detected = rig.clock.now()
    states = rig.until(lambda s: s.phase.value == "Failed")
    rolled_back = rig.events.of("rollback")[0]
    assert rolled_back["t"] - detected == 600 <= progress_deadline_bound(rig.spec)
    assert len(states) == 600 // 15 + 1
    assert "progress deadline exceeded" in rolled_back["message"]
    assert rig.router.set_calls()[1:] == [(100, 0, False)]  # never stepped
    assert rig.workloads.replicas(CANARY) == 0


def test_a_canary_failed_for_good_rolls_back_at_once():
    rig = new_rig(step_weight=10).initialised()
    rig.workloads.readiness[CANARY] = FAILED_FOR_GOOD
    rig.deploy("v2")
    assert [s.phase.value for s in rig.steps(2)] == ["Progressing", "Failed"]


# -- 8. promotion (§5) -----------------------------------------------------------------------


def test_promotion_waits_for_the_primary_then_routes_100_0_and_scales_the_canary_a_tick_later():
    rig = new_rig(step_weight=50, max_weight=50).initialised()
    rig.deploy("v2")
    assert rig.steps(3)[-1].phase.value == "Promoting"  # detect, 50, promote
    assert rig.workloads.version(PRIMARY) == "v2"
    rig.workloads.readiness[PRIMARY] = NOT_READY
    waiting = rig.steps(3)
    assert trail(waiting) == [("Promoting", 50)] * 3 and waiting[-1].failed_checks == 0
    assert rig.router.set_calls()[-1] == (50, 50, False)  # no traffic moved to a cold primary
    del rig.workloads.readiness[PRIMARY]
    finalising = rig.step()
    assert trail([finalising]) == [("Finalising", 0)]
    assert rig.workloads.replicas(CANARY) == 3  # canary still serves in-flight requests
    done = rig.step()
    assert done.phase.value == "Succeeded" and rig.workloads.replicas(CANARY) == 0
    assert done.last_promoted_spec == hash_of("v2")


def test_a_canary_that_dies_while_finalising_does_not_fail_the_promotion():
    rig = new_rig(step_weight=50).initialised()
    rig.deploy("v2")
    assert rig.steps(5)[-1].phase.value == "Finalising"
    rig.workloads.readiness[CANARY] = Readiness(False, False, "crashed")
    assert rig.step().phase.value == "Succeeded"


def test_step_weight_promotion_moves_the_primary_up_per_tick():
    rig = new_rig(step_weight=10, max_weight=30, step_weight_promotion=20).initialised()
    states = rig.rollout()
    assert trail(states)[-4:] == [("Promoting", 30), ("Promoting", 10), ("Finalising", 0),
                                  ("Succeeded", 0)]
    assert rig.router.set_calls()[-2:] == [(90, 10, False), (100, 0, False)]
    assert trail(states) == [(t.phase.value, t.canary_weight) for t in expected_ticks(rig.spec)]


def test_a_primary_failing_during_promoting_sends_all_traffic_to_the_canary():
    """Flagger 1.44: the promoted primary never became ready; the canary keeps serving."""
    rig = new_rig(step_weight=50, progress_deadline_s=60).initialised()
    rig.deploy("v2")
    assert rig.steps(4)[-1].phase.value == "Promoting"
    promoted_at = rig.events.of("promote")[0]["t"]
    rig.workloads.readiness[PRIMARY] = NOT_READY
    states = rig.until(lambda s: s.phase.value == "Failed")
    failed = rig.events.of("rollback")[0]
    assert failed["t"] - promoted_at == 60
    assert (states[-1].primary_weight, states[-1].canary_weight) == (0, 100)
    assert rig.router.set_calls()[-1] == (0, 100, False)
    assert rig.workloads.replicas(CANARY) == 3  # not scaled down
    assert states[-1].last_promoted_spec == hash_of("v1")


def test_a_primary_failed_for_good_while_finalising_sends_all_traffic_to_the_canary():
    rig = new_rig(step_weight=50).initialised()
    rig.deploy("v2")
    assert rig.steps(5)[-1].phase.value == "Finalising"
    rig.workloads.readiness[PRIMARY] = FAILED_FOR_GOOD
    state = rig.step()
    assert (state.phase.value, state.canary_weight) == ("Failed", 100)


# -- skipAnalysis, rollback (§6) -------------------------------------------------------------


def test_skip_analysis_promotes_as_soon_as_the_canary_is_ready():
    rig = new_rig(step_weight=10, skip_analysis=True).initialised()
    rig.workloads.readiness[CANARY] = NOT_READY
    rig.deploy("v2")
    assert trail(rig.steps(2)) == [("Progressing", 0), ("Progressing", 0)]
    del rig.workloads.readiness[CANARY]
    state = rig.step()
    assert state.phase.value == "Succeeded"
    assert rig.workloads.version(PRIMARY) == "v2" and rig.workloads.replicas(CANARY) == 0
    assert rig.metrics.queries == [] and rig.router.set_calls()[-1] == (100, 0, False)
    assert expected_ticks(rig.spec) == [("Progressing", 0), ("Succeeded", 0)]


def test_skip_analysis_still_rolls_back_a_canary_past_its_deadline():
    rig = new_rig(step_weight=10, skip_analysis=True, progress_deadline_s=30).initialised()
    rig.workloads.readiness[CANARY] = NOT_READY
    assert rig.rollout()[-1].phase.value == "Failed"


def test_a_rollback_routes_100_0_scales_the_canary_down_and_keeps_the_primary():
    rig = new_rig(step_weight=10, max_weight=50, threshold=1).initialised()
    rig.metrics.set("request-success-rate", [99.9, 99.9, 90.0])
    states = rig.rollout()
    assert (states[-1].phase.value, states[-1].canary_weight, states[-1].primary_weight) == (
        "Failed", 0, 100)
    assert rig.router.set_calls()[-1] == (100, 0, False)
    assert rig.workloads.replicas(CANARY) == 0
    assert [c for c in rig.workloads.calls if c[1] == PRIMARY] == [("deploy", PRIMARY, "v1", 3)]
    assert rig.workloads.version(PRIMARY) == "v1"
