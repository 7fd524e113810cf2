"""Every webhook type's gate / count semantics, and the payload (SEMANTICS.md §8, §4, §6)."""

from __future__ import annotations

import pytest
from engine_fakes import CANARY, hook, make_spec, new_rig, trail, with_hooks

from progressive.model.types import HookType, Webhook
from progressive.workloads.base import AppVersion


def rig_with(*hooks, **analysis):
    analysis.setdefault("step_weight", 10)
    analysis.setdefault("max_weight", 30)
    return new_rig(with_hooks(make_spec(**analysis), *hooks)).initialised()


def test_confirm_rollout_holds_the_revision_in_waiting_without_counting():
    rig = rig_with(hook("go", HookType.CONFIRM_ROLLOUT))
    rig.hooks.answers["go"] = [False, False, False, True]
    rig.deploy("v2")
    waiting = rig.steps(3)
    assert [(s.phase.value, s.failed_checks) for s in waiting] == [("Waiting", 0)] * 3
    assert rig.workloads.replicas(CANARY) == 0  # not scaled up while waiting
    assert [a for t in rig.actions_per_tick()[-3:] for a in t] == ["gate_halt"] * 3
    started = rig.step()
    assert started.phase.value == "Progressing" and rig.workloads.replicas(CANARY) == 3
    assert rig.until(lambda s: s.phase.value == "Succeeded")
    assert rig.hooks.names() == ["go"] * 4  # asked every tick until it passed, then never again


def test_pre_rollout_runs_on_the_first_analysis_tick_only_and_its_failure_counts():
    rig = rig_with(hook("pre", HookType.PRE_ROLLOUT), threshold=3)
    rig.hooks.answers["pre"] = [False, 503, True]
    states = rig.rollout()
    assert [(s.canary_weight, s.failed_checks) for s in states[:4]] == [(0, 0), (0, 1), (0, 2), (10, 2)]
    assert rig.hooks.names() == ["pre"] * 3
    assert states[-1].phase.value == "Succeeded"


def test_pre_rollout_failures_reach_the_threshold_and_roll_back():
    rig = rig_with(hook("pre", HookType.PRE_ROLLOUT), threshold=2)
    rig.hooks.answers["pre"] = False
    states = rig.rollout()
    assert trail(states) == [("Progressing", 0)] * 3 + [("Failed", 0)]


def test_rollout_hooks_run_every_analysis_tick_before_the_metrics_and_count():
    rig = rig_with(hook("smoke", HookType.ROLLOUT), threshold=5)
    rig.hooks.answers["smoke"] = [True, False, True]
    states = rig.rollout()
    assert [(s.canary_weight, s.failed_checks) for s in states[:5]] == [
        (0, 0), (10, 0), (20, 0), (20, 1), (30, 1)]
    assert rig.actions_per_tick()[4] == ["hook_failed"]  # metrics not queried after it failed
    assert rig.actions_per_tick()[3] == ["hook", "check", "check", "step"]


def test_confirm_traffic_increase_halts_the_step_without_counting_while_analysis_runs():
    rig = rig_with(hook("more", HookType.CONFIRM_TRAFFIC_INCREASE), threshold=2)
    rig.hooks.answers["more"] = [True, False, False, True]
    rig.deploy("v2")
    states = rig.steps(5)
    assert [(s.canary_weight, s.failed_checks) for s in states] == [
        (0, 0), (10, 0), (10, 0), (10, 0), (20, 0)]
    assert rig.actions_per_tick()[3] == ["check", "check", "gate_halt"]


def test_checks_still_roll_back_a_canary_halted_by_confirm_traffic_increase():
    rig = rig_with(hook("more", HookType.CONFIRM_TRAFFIC_INCREASE), threshold=2)
    rig.hooks.answers["more"] = [True, False]
    rig.metrics.set("request-success-rate", [99.9, 90.0])
    assert trail(rig.rollout())[-1] == ("Failed", 0)


def test_confirm_promotion_waits_in_waiting_promotion_and_then_promotes():
    rig = rig_with(hook("ship", HookType.CONFIRM_PROMOTION))
    rig.hooks.answers["ship"] = [False, False, True]
    states = rig.rollout()
    assert trail(states) == [
        ("Progressing", 0), ("Progressing", 10), ("Progressing", 20), ("Progressing", 30),
        ("WaitingPromotion", 30), ("WaitingPromotion", 30), ("Promoting", 30),
        ("Finalising", 0), ("Succeeded", 0)]
    assert all(s.failed_checks == 0 for s in states)
    assert rig.actions_per_tick()[5] == ["check", "check", "gate_halt"]  # analysis keeps running


def test_a_canary_waiting_for_promotion_can_still_roll_back():
    rig = rig_with(hook("ship", HookType.CONFIRM_PROMOTION), threshold=2)
    rig.hooks.answers["ship"] = False
    rig.metrics.set("request-success-rate", [99.9, 99.9, 99.9, 99.9, 90.0])
    states = rig.rollout()
    assert [s.phase.value for s in states][-4:] == [
        "WaitingPromotion", "WaitingPromotion", "WaitingPromotion", "Failed"]
    assert [s.failed_checks for s in states][-3:] == [1, 2, 2]


def test_post_rollout_hooks_run_after_success_and_failure_and_are_only_logged():
    rig = rig_with(hook("notify", HookType.POST_ROLLOUT), step_weight=30, threshold=1)
    rig.hooks.answers["notify"] = 500
    assert rig.rollout("v2")[-1].phase.value == "Succeeded"  # a failing post-rollout hook
    rig.metrics.set("request-success-rate", 90.0)
    assert rig.rollout("v3")[-1].phase.value == "Failed"
    phases = [payload["phase"] for name, payload in rig.hooks.calls]
    assert phases == ["Succeeded", "Failed"]
    assert len(rig.events.of("hook_failed")) == 2


def test_a_rollback_hook_that_declines_changes_nothing():
    rig = rig_with(hook("abort", HookType.ROLLBACK))
    rig.hooks.answers["abort"] = 404
    assert rig.rollout()[-1].phase.value == "Succeeded"
    # asked on the 4 ticks in Progressing after detection, never while Promoting / Finalising
    assert rig.hooks.names() == ["abort"] * 4


def test_a_rollback_hook_that_answers_success_rolls_back_at_once():
    rig = rig_with(hook("abort", HookType.ROLLBACK), threshold=10)
    rig.hooks.answers["abort"] = [False, False, 200]
    states = rig.rollout()
    assert trail(states) == [("Progressing", 0), ("Progressing", 10), ("Progressing", 20),
                             ("Failed", 0)]
    assert "rollback hook abort" in rig.events.of("rollback")[0]["message"]
    assert rig.actions_per_tick()[-1][0] == "rollback"  # before any analysis of that tick


def test_a_rollback_hook_also_aborts_a_canary_waiting_for_promotion():
    rig = rig_with(hook("ship", HookType.CONFIRM_PROMOTION), hook("abort", HookType.ROLLBACK))
    rig.hooks.answers["ship"] = False
    rig.hooks.answers["abort"] = [False] * 5 + [True]
    states = rig.rollout()
    assert [s.phase.value for s in states][-2:] == ["WaitingPromotion", "Failed"]


def test_the_payload_names_the_canary_its_phase_and_the_revision_checksum():
    spec = with_hooks(make_spec(step_weight=50, max_weight=50),
                      Webhook("pre", HookType.PRE_ROLLOUT, "http://127.0.0.1:9/pre",
                              metadata={"cmd": "hey -z 1m http://croc-hunter-canary/"}))
    rig = new_rig(spec).initialised()
    rig.rollout()
    name, payload = rig.hooks.calls[0]
    assert payload == {
        "name": "croc-hunter",
        "namespace": "jx-production",
        "phase": "Progressing",
        "checksum": AppVersion("v2").spec_hash(),
        "metadata": {"cmd": "hey -z 1m http://croc-hunter-canary/"},
    }


@pytest.mark.parametrize("answer", [ConnectionRefusedError("refused"), TimeoutError("10s")])
def test_a_hook_that_cannot_be_reached_has_failed(answer):
    rig = rig_with(hook("pre", HookType.PRE_ROLLOUT), threshold=1)
    rig.hooks.answers["pre"] = [answer]
    states = rig.rollout()
    assert states[-1].phase.value == "Failed"
    assert str(answer) in rig.events.of("hook_failed")[0]["message"]


def test_hooks_of_one_type_run_in_order_and_stop_at_the_first_failure():
    rig = rig_with(hook("a", HookType.PRE_ROLLOUT), hook("b", HookType.PRE_ROLLOUT),
                   hook("c", HookType.PRE_ROLLOUT))
    rig.hooks.answers["b"] = [False, True]
    rig.rollout()
    assert rig.hooks.names() == ["a", "b", "a", "b", "c"]
