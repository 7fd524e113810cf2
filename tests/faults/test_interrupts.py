"""The harness interrupted: `progressive rollout` and `pytest` stopped by SIGINT / SIGTERM at
some phase, or SIGKILLed and cleaned up by `progressive down`.

Expected (DESIGN.md principle 5, "Nothing leaks"):
- SIGINT or SIGTERM: every process the harness started (recorded under STATE/pids and
  STATE/load-*/pids, or its descendants) is gone, and no port they listened on still listens,
  within STOP_BOUND_S of the signal; `progressive rollout` exits 130; pytest exits 2 on SIGINT
  (its fixtures' teardown runs) and dies at once on SIGTERM, when the kernel's parent-death
  signal stops its children (processes.py);
- SIGKILL: the harness's own children die with it (parent-death signal), a platform from
  `progressive up` keeps running (it outlives any command, by design), and
  `progressive down --state-dir S` stops whatever is left and exits 0.
Here the harness starts as from a terminal (SIGINT at its default). tests/cli/test_rollout.py
sends SIGINT during the analysis to a rollout started as a script's background job
(SIGINT inherited ignored, which the CLI restores).
"""

from __future__ import annotations

import signal
import sys
import time

import pytest
from fault_support import Harness, alive, cli_argv

from progressive.engine.events import read_events
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

SEED = "fixtures/specs/seed-canary.yaml"
STOP_BOUND_S = 10.0  # Locust's 2 s stop timeout + SIGTERM, then SIGKILL after 5 s, of the rest
PHASE_BOUND_S = 90.0  # reaching a phase: interpreter, platform and Locust start-up, loaded box
CONFORMANCE_TEST = "suites/test_canary_stepping.py::test_weights_walk_the_steps_and_promote"


def events(path) -> list[dict]:
    return read_events(path) if path.exists() else []


PHASES = {  # phase of `progressive rollout` -> how it shows from outside (state dir, events)
    "platform-start": lambda state, ev: (state / "pids" / "envoy.json").exists(),
    "initialising": lambda state, ev: any(e["action"] == "initialize" for e in events(ev)),
    "analysis": lambda state, ev: any(e["action"] == "step" for e in events(ev)),
}


def rollout_harness(tmp_path, *extra: str) -> tuple[Harness, object]:
    state, ev = tmp_path / "state", tmp_path / "events.jsonl"
    argv = cli_argv("rollout", SEED, "--to", "v2", "--time-scale", 0.1, "--rps", 50,
                    "--state-dir", state, "--events-json", ev, *extra)
    return Harness(argv, state, tmp_path / "logs", "rollout"), ev


def pytest_harness(tmp_path) -> Harness:
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "pytest", CONFORMANCE_TEST, "-q", "-p", "no:cacheprovider",
            f"--progressive-state-dir={state}", f"--basetemp={tmp_path / 'base'}"]
    return Harness(argv, state, tmp_path / "logs", "pytest")


def reach(harness: Harness, phase_reached, what: str) -> None:
    wait_until(lambda: harness.scan() or phase_reached(), timeout=PHASE_BOUND_S,
               what=f"the harness to reach {what}", poll=0.05, max_poll=0.1)
    harness.scan()
    assert harness.proc.poll() is None, f"exited before {what}:\n{harness.output()}"
    assert harness.pids, "nothing recorded"


def gone_within(harness: Harness, bound: float) -> float:
    """Seconds until nothing the harness started is alive or listening (bounded)."""
    start = time.monotonic()
    wait_until(lambda: not harness.leftovers(), timeout=bound,
               what=f"the harness's processes to be gone ({harness.leftovers()})")
    return time.monotonic() - start


@pytest.fixture
def cleanup():
    """Whatever a failed test left: kill its harness, stop its platform."""
    harnesses: list[Harness] = []
    yield harnesses.append
    from progressive.platforms.local.platform import LocalPlatform

    for h in harnesses:
        h.kill()
        if h.state_dir.exists():
            LocalPlatform(h.state_dir).down()


@pytest.mark.parametrize(("sig", "phase"), [
    (signal.SIGTERM, "platform-start"),
    (signal.SIGINT, "initialising"),
    (signal.SIGTERM, "analysis"),
], ids=["SIGTERM-platform-start", "SIGINT-initialising", "SIGTERM-analysis"])
def test_rollout_interrupted_stops_everything(tmp_path, cleanup, figures, sig, phase):
    harness, ev = rollout_harness(tmp_path)
    cleanup(harness)
    reach(harness, lambda: PHASES[phase](harness.state_dir, ev), phase)
    harness.proc.send_signal(sig)
    code = harness.wait_exit(STOP_BOUND_S)
    took = gone_within(harness, STOP_BOUND_S)
    figures("processes_seen", len(harness.pids))
    figures("ports_seen", len(harness.ports))
    figures("exit_to_all_gone_s", round(took, 2))
    assert code == 130, harness.output()
    assert "Traceback" not in harness.output(), harness.output()
    assert harness.leftovers() == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_pytest_interrupted_stops_everything(tmp_path, cleanup, figures, sig):
    harness = pytest_harness(tmp_path)
    cleanup(harness)
    reach(harness, lambda: any(harness.state_dir.glob("pids/app-*-canary-g*.json")),
          "the canary's start")
    signalled = time.monotonic()
    harness.proc.send_signal(sig)
    code = harness.wait_exit(STOP_BOUND_S)
    gone_within(harness, STOP_BOUND_S - (time.monotonic() - signalled))
    figures("processes_seen", len(harness.pids))
    figures("signal_to_all_gone_s", round(time.monotonic() - signalled, 2))
    assert code == (2 if sig == signal.SIGINT else -signal.SIGTERM), harness.output()
    assert harness.leftovers() == []


@pytest.mark.parametrize("kind", ["rollout", "pytest"])
def test_down_cleans_up_after_a_sigkilled_harness(tmp_path, cleanup, figures, kind):
    if kind == "rollout":
        harness, ev = rollout_harness(tmp_path)
        reached = lambda: PHASES["analysis"](harness.state_dir, ev)  # noqa: E731
    else:
        harness = pytest_harness(tmp_path)
        reached = lambda: any(harness.state_dir.glob("pids/app-*-canary-g*.json"))  # noqa: E731
    cleanup(harness)
    reach(harness, reached, "the rollout")
    harness.kill()  # SIGKILL: no handler, no teardown
    took = gone_within(harness, STOP_BOUND_S)
    down = Harness(cli_argv("down", "--state-dir", harness.state_dir), harness.state_dir,
                   tmp_path / "logs", "down")
    assert down.wait_exit(PHASE_BOUND_S) == 0, down.output()
    figures("sigkill_to_children_gone_s", round(took, 2))
    assert harness.leftovers() == []
    assert not (harness.state_dir / "platform.json").exists()
    assert not list(harness.state_dir.glob("pids/*.json")), "pid records left"


def test_down_stops_the_platform_a_sigkilled_rollout_was_using(tmp_path, cleanup, figures):
    state = tmp_path / "state"
    up = Harness(cli_argv("up", "--state-dir", state), state, tmp_path / "logs", "up")
    cleanup(up)
    assert up.wait_exit(PHASE_BOUND_S) == 0, up.output()
    harness, ev = rollout_harness(tmp_path)
    cleanup(harness)
    reach(harness, lambda: PHASES["analysis"](state, ev), "the analysis")
    harness.kill()
    platform_pids = {p: ct for p, ct in harness.pids.items() if alive(p, ct)}
    assert platform_pids, "nothing survived: the platform was not the `progressive up` one"
    down = Harness(cli_argv("down", "--state-dir", state), state, tmp_path / "logs", "down")
    started = time.monotonic()
    assert down.wait_exit(PHASE_BOUND_S) == 0, down.output()
    figures("processes_left_after_sigkill", len(platform_pids))
    figures("down_s", round(time.monotonic() - started, 2))
    assert harness.leftovers() == [] and up.leftovers() == []
    assert not (state / "platform.json").exists()
