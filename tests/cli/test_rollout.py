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

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from progressive.engine.bounds import run_bound
from progressive.engine.events import read_events
from progressive.model.validate import load_spec
from progressive.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "fixtures" / "specs" / "seed-canary.yaml"
TIME_SCALE = 0.1
START_ALLOWANCE_S = 60.0  # platform + Locust start-up and teardown, on a loaded machine
STOP_BOUND_S = 10.0  # SIGINT to exit: Locust's stop (<= 3 s) + stopping the platform

pytestmark = pytest.mark.integration


def run_bound_s(spec_path: Path = SEED, time_scale: float = TIME_SCALE) -> float:
    return run_bound(load_spec(spec_path).scaled(time_scale)) + START_ALLOWANCE_S


class Rollout:
    """One `progressive rollout` subprocess and what it left behind."""

    def __init__(self, tmp_path: Path, *args: str, sigint: object = signal.SIG_DFL):
        """`sigint`: the disposition it starts with; SIG_IGN as a script's `cmd &` starts it."""
        self.state = tmp_path / "state"
        self.events = tmp_path / "events.jsonl"
        argv = [sys.executable, "-m", "progressive", "rollout", *args,
                "--state-dir", str(self.state), "--events-json", str(self.events)]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE,  # noqa: S603
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))  # noqa: PLW1509
        self.pids: dict[int, float | None] = {}  # pid -> create time, all ever recorded
        self.ports: set[int] = set()
        self.out = self.err = ""

    def watch(self) -> bool:
        """Note every recorded process and platform port; True once the command has exited."""
        for rec in [*self.state.glob("pids/*.json"), *self.state.glob("load-*/pids/*.json")]:
            try:
                data = json.loads(rec.read_text())
                self.pids[data["pid"]] = data.get("create_time")
            except (OSError, ValueError, KeyError):
                continue
        for name in ("platform.json", "workloads.json"):
            try:
                text = (self.state / name).read_text()
            except OSError:
                continue
            self.ports |= {int(p) for p in _ports_in(json.loads(text or "{}"))}
        return self.proc.poll() is not None

    def wait(self, timeout: float) -> int:
        wait_until(self.watch, timeout=timeout, what="`progressive rollout` to exit", poll=0.1,
                   max_poll=0.2)
        self.out, self.err = self.proc.communicate(timeout=5)
        return self.proc.returncode

    def wait_for_event(self, condition, timeout: float) -> None:
        def seen():
            exited = self.watch()
            return exited or (self.events.exists()
                              and any(condition(e) for e in read_events(self.events)))

        wait_until(seen, timeout=timeout, what="an event of the run", poll=0.1, max_poll=0.2)
        assert self.proc.poll() is None, f"the command exited early:\n{self.proc.stderr.read()}"

    def leftovers(self) -> list[str]:
        alive = [f"pid {pid}" for pid, ct in self.pids.items() if _alive(pid, ct)]
        listening = {c.laddr.port for c in psutil.net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN}
        return alive + [f"port {p}" for p in sorted(self.ports & listening)]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def _ports_in(doc) -> list[int]:
    """Ports named in platform.json (URLs) and workloads.json (replica ports)."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "port" and isinstance(value, int) and value:
                found.append(value)
            elif isinstance(value, str) and value.startswith("http://127.0.0.1:"):
                found.append(int(value.rsplit(":", 1)[1].split("/")[0]))
            else:
                found += _ports_in(value)
    elif isinstance(doc, list):
        for item in doc:
            found += _ports_in(item)
    return found


def _alive(pid: int, create_time: float | None) -> bool:
    try:
        p = psutil.Process(pid)
        same = create_time is None or abs(p.create_time() - create_time) < 0.01
        return same and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture
def rollout(tmp_path):
    runs: list[Rollout] = []

    def start(*args: str, **options) -> Rollout:
        run = Rollout(tmp_path / f"run{len(runs)}", *args, **options)
        runs.append(run)
        return run

    yield start
    for run in runs:  # a failed test must not leave its platform behind
        run.kill()
        from progressive.platforms.local.platform import LocalPlatform

        if run.state.exists():
            LocalPlatform(run.state).down()


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
