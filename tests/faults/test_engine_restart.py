"""The engine process SIGKILLed in the middle of a rollout and started again.

The engine runs as a user runs it: `progressive rollout` in a subprocess, against a platform
started with `progressive up` (it outlives the command), with load from this test so that the
traffic and the weight timeline span both runs. progressive/rollout.py resumes: a second run
with the same spec and version reads the engine's state (STATE/engine/NS_NAME.json, written
atomically after every tick) and, the phase being Progressing, goes on without a new revision
(it refuses only a run that already ended).

Expected (SEMANTICS.md §4: state persisted per tick, one tick per `interval`; step 4: the live
weights are read from the router, not from memory):
- while no engine runs, the gateway keeps serving the last weights (20);
- the restarted engine's first tick starts from the same phase, weight and failedChecks as
  the state the killed one saved; no `new_revision` or `restart` event (not a new analysis);
- it goes on 30, 40, 50, promotes and ends Succeeded (exit 0) with the same failedChecks;
- no route jumps to 0 or 100 because of the restart;
- each weight holds one interval, as it would have without the restart, so the router's
  weights over both runs are exactly 0, 10, 20, 30, 40, 50, 0.
One rollout is judged by every test of the module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from fault_support import LOAD_USERS, Harness, cli_argv

from progressive.engine.bounds import run_bound
from progressive.engine.events import read_events
from progressive.engine.state import CanaryState
from progressive.load.recording import is_failure
from progressive.load.timeline import WeightTimeline, observed_sequence
from progressive.load.traffic import traffic
from progressive.model.validate import load_spec
from progressive.platforms.local.platform import LocalPlatform
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

SEED = "fixtures/specs/seed-canary.yaml"
TIME_SCALE = 0.1
START_ALLOWANCE_S = 60.0  # a CLI's start-up (imports, attach) on a loaded 2-core machine
RPS = 100


@dataclass
class Restarted:
    spec: object
    killed: float
    saved: CanaryState
    served: object  # the routes the gateway served while no engine ran
    exit_code: int
    output: str
    before: list[dict]  # events of the killed run
    after: list[dict]  # events of the restarted run
    timeline: WeightTimeline
    records: object


def events_of(path) -> list[dict]:
    return read_events(path) if path.exists() else []


def stepped_to(weight: int, events: list[dict]) -> bool:
    """The tick that stepped to `weight` has ended (its state is saved before its `tick`)."""
    step = next((i for i, e in enumerate(events)
                 if e["action"] == "step" and e["canaryWeight"] == weight), None)
    return step is not None and any(e["action"] == "tick" for e in events[step:])


@pytest.fixture(scope="module")
def restarted(tmp_path_factory, pytestconfig) -> Restarted:
    if pytestconfig.getoption("--platform") != "local":
        pytest.skip("runs the local platform with `progressive up`")
    tmp = tmp_path_factory.mktemp("engine-restart")
    state, logs = tmp / "state", tmp / "logs"
    up = Harness(cli_argv("up", "--state-dir", state), state, logs, "up")
    try:
        assert up.wait_exit(START_ALLOWANCE_S) == 0, up.output()
        return run_killed_and_restarted(LocalPlatform.attach(state), state, tmp)
    finally:
        Harness(cli_argv("down", "--state-dir", state), state, logs, "down").wait_exit(
            START_ALLOWANCE_S)


def run_killed_and_restarted(platform, state, tmp) -> Restarted:
    spec = load_spec(SEED).scaled(TIME_SCALE)
    router, store = platform.router(), platform.state_store()
    bound = run_bound(spec) + START_ALLOWANCE_S

    def rollout(name: str) -> tuple[Harness, object]:
        events = tmp / f"{name}.jsonl"
        argv = cli_argv("rollout", SEED, "--to", "v2", "--time-scale", TIME_SCALE, "--rps", 0,
                        "--state-dir", state, "--events-json", events)
        return Harness(argv, state, tmp / "logs", name), events

    with WeightTimeline(lambda: router.get_routes(spec)) as timeline, \
            traffic(platform.gateway_url, rps=RPS, users=LOAD_USERS,
                    host_header=spec.hosts[0]) as load:
        first, events1 = rollout("run1")
        try:  # killed once the tick that stepped to 20 has saved its state (its `tick` event)
            wait_until(lambda: first.scan() or stepped_to(20, events_of(events1)),
                       timeout=bound, what="the first run's step to 20")
            assert first.proc.poll() is None, first.output()
            killed = time.time()
        finally:
            first.kill()
        saved = store.load(spec.namespace, spec.name)
        served = router.get_routes(spec)
        second, events2 = rollout("run2")
        try:
            code = second.wait_exit(bound)
        finally:
            second.kill()
        load.wait_for_requests(len(load.records) + 20, timeout=10)
    return Restarted(spec, killed, saved, served, code, second.output(), events_of(events1),
                     events_of(events2), timeline, load.records)


def test_the_restarted_engine_resumes_with_the_same_weight_and_counters(restarted, figures):
    r = restarted
    first = r.after[0]
    steps = [(e["canaryWeight"], round(e["t"] - r.killed, 2)) for e in r.after
             if e["action"] == "step"]
    failures = [x for x in r.records if is_failure(x.status)]
    figures("saved_state", f"{r.saved.phase.value} w={r.saved.canary_weight} "
                           f"failedChecks={r.saved.failed_checks}")
    figures("kill_to_first_event_of_second_run_s", round(first["t"] - r.killed, 2))
    figures("steps_after_restart_s", steps)
    figures("requests_failed", len(failures))
    figures("requests_total", len(r.records))

    assert r.exit_code == 0, r.output
    assert (r.saved.phase.value, r.saved.canary_weight) == ("Progressing", 20), r.saved
    assert (r.served.primary_weight, r.served.canary_weight) == (80, 20), "route lost"
    assert (first["phase"], first["canaryWeight"], first["failedChecks"]) == (
        "Progressing", 20, r.saved.failed_checks), first
    assert not [e for e in r.after if e["action"] in ("new_revision", "restart")], r.after
    assert [w for w, _ in steps] == [30, 40, 50], steps
    assert r.after[-1]["phase"] == "Succeeded", r.output
    assert r.after[-1]["failedChecks"] == r.saved.failed_checks, r.after[-1]
    assert failures == [], f"{len(failures)} requests failed"


def test_no_route_jumps_to_0_or_100_because_of_the_restart(restarted):
    seen = observed_sequence(restarted.timeline)
    assert seen[0] == 0 and seen[-1] == 0, seen
    assert all(0 < w < 100 for w in seen[1:-1]), seen
    assert seen == sorted(seen[:-1]) + [0], f"weights went back: {seen}"


def test_each_weight_holds_one_interval_across_the_restart(restarted):
    r = restarted
    interval = r.spec.analysis.interval_s
    steps = [e["t"] for e in r.before + r.after if e["action"] == "step"]
    held = [round(b - a, 2) for a, b in zip(steps, steps[1:], strict=False)]
    # A double tick on resume shows as a hold near 0 s. A tick's events are stamped after its
    # work (checks, routes, confirms), so a late tick followed by an on-time one shortens a
    # hold by that lateness; on a loaded machine that can be a few tenths of a second.
    assert all(h >= interval / 2 for h in held), f"weights held {held} s"
    assert observed_sequence(r.timeline) == [0, 10, 20, 30, 40, 50, 0]
