"""State store, event log, restart from the store, run_until_done and router errors (§4, §9)."""

from __future__ import annotations

import json
import os
import threading

import pytest
from engine_fakes import CANARY, Rig, hook, make_spec, new_rig, with_hooks

from progressive.engine import (
    CanaryState,
    EventLog,
    FileStateStore,
    Phase,
    RolloutTimeout,
    read_events,
    rollout_bounds,
    run_bound,
)
from progressive.model.types import HookType

REQUIRED = {"t", "canary", "phase", "canaryWeight", "primaryWeight", "failedChecks", "iterations",
            "action", "message"}


# -- state -----------------------------------------------------------------------------------


def test_state_round_trips_through_its_status_document():
    state = CanaryState("croc-hunter", "jx-production", Phase.WAITING_PROMOTION, canary_weight=30,
                        primary_weight=70, failed_checks=2, iterations=1, last_applied_spec="b",
                        last_promoted_spec="a", last_transition_time=12.5, progressing_since=3.0)
    doc = state.to_dict()
    assert doc["phase"] == "WaitingPromotion" and doc["canaryWeight"] == 30
    assert doc["lastAppliedSpec"] == "b" and doc["failedChecks"] == 2
    assert CanaryState.from_dict(json.loads(json.dumps(doc))) == state


def test_the_state_file_is_written_after_every_tick(tmp_path):
    store = FileStateStore(tmp_path)
    rig = Rig(make_spec(step_weight=50), store=store)
    rig.initialised()
    rig.deploy("v2")
    path = tmp_path / "engine" / "jx-production_croc-hunter.json"
    for _ in range(6):
        state = rig.step()
        assert json.loads(path.read_text()) == state.to_dict()
    assert state.phase is Phase.SUCCEEDED
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_a_failed_save_leaves_the_previous_state_file_whole(tmp_path):
    store = FileStateStore(tmp_path)
    rig = Rig(make_spec(step_weight=50), store=store).initialised()
    path = store.path("jx-production", "croc-hunter")
    before = path.read_text()
    for tmp in path.parent.glob(".*"):
        tmp.unlink()
    blocker = path.parent / f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    blocker.mkdir()  # the temp file cannot be created: the write fails before the rename
    rig.deploy("v2")
    with pytest.raises(OSError):
        rig.step()
    assert path.read_text() == before
    blocker.rmdir()
    assert rig.step().phase is Phase.PROGRESSING  # the engine kept its state in memory


# -- events ----------------------------------------------------------------------------------


def test_every_event_carries_the_counters_and_a_tick_record_closes_each_tick(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    rig = Rig(make_spec(step_weight=50, threshold=2), events=log).initialised()
    rig.metrics.set("request-success-rate", 94.8)
    rig.rollout()
    records = log.records
    assert all(REQUIRED <= set(r) for r in records)
    assert read_events(tmp_path / "events.jsonl") == records
    assert len(log.of("tick")) == len(rig.history)
    assert {r["action"] for r in records} == {"tick", "initialize", "new_revision", "step",
                                              "check_failed", "rollback"}
    failed = log.of("check_failed")[0]
    assert failed["message"] == "request-success-rate 94.80 < min 99"
    assert (failed["canaryWeight"], failed["primaryWeight"], failed["canary"]) == (50, 50, "croc-hunter")
    assert log.of("rollback")[0]["message"] == "rolling back: failed checks threshold reached: 2/2"
    assert [r["t"] - records[0]["t"] for r in log.of("tick")] == [15.0 * i for i in range(6)]


def test_a_torn_last_line_is_skipped_when_reading(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"action": "tick"}\n{"action": "st')
    assert read_events(path) == [{"action": "tick"}]


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError):
        EventLog().record(0.0, CanaryState("a", "b"), "jump")


# -- restart from the store ------------------------------------------------------------------


def test_a_restarted_engine_continues_at_the_same_weight_without_touching_the_routes():
    rig = new_rig(step_weight=10, max_weight=50, threshold=5).initialised()
    rig.metrics.set("request-success-rate", [99.9, 90.0, 99.9])
    rig.deploy("v2")
    before = rig.steps(4)[-1]  # detect, 10, 20, fail
    assert (before.canary_weight, before.failed_checks) == (20, 1)
    calls = len(rig.router.calls)
    rig.engine = rig.new_engine()  # a new process: same store, same live routes
    assert rig.router.calls[calls:] == []
    after = rig.step()
    assert rig.router.calls[calls:] == [("set_routes", 70, 30, False)]  # no reconcile, no 100/0
    assert (after.canary_weight, after.failed_checks, after.phase) == (30, 1, Phase.PROGRESSING)
    assert rig.until(lambda s: s.phase is Phase.SUCCEEDED)


@pytest.mark.parametrize("restarted", [False, True])
def test_the_engine_steps_from_the_live_weights_not_from_its_memory(restarted):
    rig = new_rig(step_weight=10, max_weight=50).initialised()
    rig.deploy("v2")
    rig.steps(3)  # weight 20
    rig.router.set_routes(rig.spec, 60, 40)  # someone moved the route meanwhile
    if restarted:
        rig.engine = rig.new_engine()
    assert rig.step().canary_weight == 50


# -- run_until_done --------------------------------------------------------------------------


def test_run_until_done_ticks_once_per_interval_until_succeeded():
    rig = new_rig(step_weight=10, max_weight=30).initialised()
    rig.deploy("v2")
    start = rig.clock.now()
    state = rig.engine.run_until_done()
    assert state.phase is Phase.SUCCEEDED
    assert rig.clock.now() - start == rollout_bounds(rig.spec)[0]  # no sleep after the last tick


def test_run_until_done_returns_failed_after_a_rollback():
    rig = new_rig(step_weight=10, threshold=2).initialised()
    rig.metrics.set("request-success-rate", 50.0)
    rig.deploy("v2")
    assert rig.engine.run_until_done().phase is Phase.FAILED


def test_run_until_done_returns_at_once_when_there_is_nothing_to_roll_out():
    rig = new_rig(step_weight=10).initialised()
    start = rig.clock.now()
    assert rig.engine.run_until_done().phase is Phase.INITIALIZED
    assert rig.clock.now() == start


def test_run_until_done_stops_after_max_ticks():
    rig = new_rig(step_weight=10).initialised()
    rig.deploy("v2")
    assert rig.engine.run_until_done(max_ticks=3).canary_weight == 20


def test_run_until_done_gives_up_past_the_bound_from_the_spec():
    spec = with_hooks(make_spec(step_weight=10), hook("go", HookType.CONFIRM_ROLLOUT))
    rig = new_rig(spec).initialised()
    rig.hooks.answers["go"] = False  # never approved
    rig.deploy("v2")
    start = rig.clock.now()
    with pytest.raises(RolloutTimeout, match="still Waiting"):
        rig.engine.run_until_done()
    assert run_bound(spec) <= rig.clock.now() - start < run_bound(spec) + spec.analysis.interval_s


# -- router errors ---------------------------------------------------------------------------


def test_a_router_error_ends_the_tick_and_the_next_tick_retries():
    rig = new_rig(step_weight=10, max_weight=30).initialised()
    rig.deploy("v2")
    rig.steps(2)  # weight 10
    rig.router.fail_next = 1
    failed = rig.step()
    assert (failed.canary_weight, failed.phase) == (10, Phase.PROGRESSING)
    assert rig.events.of("wait")[-1]["message"].startswith("router error")
    assert rig.step().canary_weight == 20


def test_an_unexpected_seam_error_is_raised_after_the_state_is_saved():
    rig = new_rig(step_weight=10).initialised()
    rig.deploy("v2")
    rig.step()

    def broken():
        raise RuntimeError("kubelet gone")

    rig.workloads.readiness[CANARY] = broken
    with pytest.raises(RuntimeError):
        rig.step()
    assert rig.store.saved[-1]["message"].startswith("tick failed")
