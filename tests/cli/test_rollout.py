"""`progressive rollout`: the command run as a user runs it, on a real local platform.

Each test starts `python -m progressive rollout ...` in a subprocess with its own state dir:
the command starts Envoy, Prometheus, Croc Hunter replicas and Locust itself and must stop all
of them when it ends, whether it promoted, rolled back, refused its input or was interrupted.
While a run goes on, the test keeps every pid recorded under the state dir and every port the
platform listens on; afterwards none of them may be alive.

Time bounds come from the spec (bounds.run_bound of the time-scaled spec) plus a fixed
allowance for starting the platform and Locust on a busy 2-core machine.
"""

from __future__ import annotations

import signal

import pytest
from cli_support import REPO, SEED, START_ALLOWANCE_S, STOP_BOUND_S, TIME_SCALE, run_bound_s

from progressive.engine.events import read_events

pytestmark = pytest.mark.integration


def test_good_release_is_promoted_through_every_step(rollout):
    run = rollout(str(SEED), "--to", "v2", "--time-scale", str(TIME_SCALE), "--rps", "100")
    code = run.wait(timeout=run_bound_s())
    assert code == 0, run.err
    verdict = run.out.strip().splitlines()[-1]
    assert verdict.startswith("promoted jx-production-croc-hunter-jenkinsx to v2 in "), run.out
    assert verdict.endswith(" 0 failed)"), verdict
    events = read_events(run.events)
    steps = [e["canaryWeight"] for e in events if e["action"] == "step"]
    assert steps == [10, 20, 30, 40, 50]
    assert events[-1]["phase"] == "Succeeded"
    assert "Traceback" not in run.err
    assert run.pids and run.ports, "the run was not observed"
    assert run.leftovers() == []


def test_bad_release_is_rolled_back(rollout):
    run = rollout(str(SEED), "--to", "v3", "--error-rate", "0.2",
                  "--time-scale", str(TIME_SCALE), "--rps", "100")
    code = run.wait(timeout=run_bound_s())
    assert code == 1, run.out + run.err
    assert "rolled back jx-production-croc-hunter-jenkinsx: v3 failed 5 checks (" in run.err
    assert "primary kept serving v1 (0 failed requests)" in run.err
    events = read_events(run.events)
    assert [e["action"] for e in events].count("rollback") == 1
    assert events[-1]["phase"] == "Failed" and events[-1]["canaryWeight"] == 0
    assert max(e["canaryWeight"] for e in events) < 50
    assert "Traceback" not in run.err
    assert run.leftovers() == []


def test_invalid_spec_exits_2_before_anything_starts(rollout):
    run = rollout(str(REPO / "fixtures" / "bad" / "canary-old-stepweight-150.yaml"), "--to", "v2")
    assert run.wait(timeout=30) == 2
    assert "spec.canaryAnalysis.stepWeight: must be between 1 and 100, got 150" in run.err
    assert "Traceback" not in run.err
    assert not run.state.exists()


def test_invalid_option_exits_2(rollout):
    run = rollout(str(SEED), "--to", "v2", "--error-rate", "1.5")
    assert run.wait(timeout=30) == 2
    assert "--error-rate must be between 0 and 1" in run.err
    assert "Traceback" not in run.err


def test_sigint_stops_everything_also_in_a_background_job(rollout):
    """SIGINT during the analysis, to a rollout started as a script's `progressive rollout &`
    is: with SIGINT inherited ignored (the CLI restores it). A foreground run gets SIGINT
    while initialising in tests/faults/test_interrupts.py."""
    run = rollout(str(SEED), "--to", "v2", "--time-scale", str(TIME_SCALE), "--rps", "100",
                  sigint=signal.SIG_IGN)
    run.wait_for_event(lambda e: e["action"] == "step" and e["canaryWeight"] == 10,
                       timeout=run_bound_s())
    assert run.pids and run.ports, "nothing was recorded while the run went on"
    run.proc.send_signal(signal.SIGINT)
    code = run.wait(timeout=STOP_BOUND_S)
    assert code == 130, run.err
    assert "interrupted" in run.err and "Traceback" not in run.err
    assert run.leftovers() == []


def test_virtual_service_is_applied_and_described(rollout):
    run = rollout(str(REPO / "fixtures" / "specs" / "seed-virtualservice-fixed.yaml"))
    assert run.wait(timeout=START_ALLOWANCE_S) == 0, run.err
    assert " 99 (99.0%)  croc-hunter-jenkinsx.jx-production.svc.cluster.local  -> version " \
           "jx-production" in run.out
    assert "   1 (1.0%)  croc-hunter-jenkinsx.jx-carlossg-" in run.out
    assert run.leftovers() == []


def test_shipper_application_reaches_its_last_step(rollout):
    spec = REPO / "fixtures" / "specs" / "application-shipper.yaml"
    run = rollout(str(spec), "--to", "v2", "--time-scale", "0.02", "--replicas", "1")
    assert run.wait(timeout=START_ALLOWANCE_S) == 0, run.err
    assert "released croc-hunter v2: step 2 (full on) reached in " in run.out
    events = read_events(run.events)
    assert events[-1]["phase"] == "Succeeded"
    assert (events[-1]["primaryWeight"], events[-1]["canaryWeight"]) == (0, 100)
    assert run.leftovers() == []
