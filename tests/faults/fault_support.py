"""Helpers of the fault tests (fixtures are in conftest.py): what a fault injector gets while
a rollout runs, killing a process, and reading the engine's events around a fault.

The observation steps are the conformance suites' own (progressive.testing.rollouts) and the
engine-level tests use the engine's fakes (tests/engine/engine_fakes.py): that directory goes
on sys.path here rather than being copied.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
for _shared in (REPO / "tests" / "engine",):
    if str(_shared) not in sys.path:
        sys.path.insert(0, str(_shared))

from progressive.load.timeline import WeightTimeline  # noqa: E402
from progressive.testing import (  # noqa: E402, F401 - re-exported for the tests
    LOAD_RPS,
    LOAD_USERS,
    GateServer,
    Observation,
    engine_session,
    load_spec,
)
from progressive.waiting import wait_until  # noqa: E402


@dataclasses.dataclass
class Run:
    """What a fault injector needs while the rollout goes on."""

    platform: object
    engine: object
    timeline: WeightTimeline
    load: object
    spec: object

    def wait_event(self, condition: Callable[[dict], bool], timeout: float, what: str,
                   since: float = 0.0) -> dict:
        """The first engine event at or after `since` that satisfies `condition`."""
        def found():
            return next((e for e in self.engine.events() if e["t"] >= since and condition(e)),
                        None)

        return wait_until(found, timeout=timeout, what=what, poll=0.05, max_poll=0.1)

    def wait_weight(self, weight: int) -> dict:
        """The step to `weight`: tick k of a healthy run after detection (k = its place in the
        spec's weights + 1), one more for detection, each allowed twice an interval."""
        a = self.spec.analysis
        ticks = list(a.weight_sequence()).index(weight) + 3
        return self.wait_event(lambda e: e["action"] == "step" and e["canaryWeight"] == weight,
                               2 * ticks * a.interval_s, f"the step to weight {weight}")


def sigkill(pid: int) -> float:
    """SIGKILL `pid`; the unix time it was sent."""
    t = time.time()
    os.kill(pid, signal.SIGKILL)
    return t


def steps_between(events: list[dict], t0: float, t1: float) -> list[dict]:
    return [e for e in events if e["action"] == "step" and t0 <= e["t"] <= t1]


def failed_since(events: list[dict], t: float) -> list[dict]:
    """Failed checks at or after `t` (the fault's own; one before it is another matter: the
    first analysis tick after the first step may find no data yet, see the issue note)."""
    return [e for e in events if e["action"] == "check_failed" and e["t"] >= t]


@dataclasses.dataclass
class Tick:
    """One engine tick read back from the event log: its events and the closing `tick` one."""

    events: list[dict]
    end: dict

    @property
    def t(self) -> float:
        return self.end["t"]

    @property
    def actions(self) -> list[str]:
        return [e["action"] for e in self.events]

    def waited_for(self, workload: str) -> bool:
        """True when this tick waited because `workload` was not ready."""
        return any(e["action"] == "wait" and e["message"].startswith(f"{workload} not ready")
                   for e in self.events)


def ticks(events: list[dict], since: float = 0.0) -> list[Tick]:
    """The ticks that ended at or after `since`, oldest first."""
    out, current = [], []
    for e in events:
        if e["action"] == "tick":
            if e["t"] >= since:
                out.append(Tick(current, e))
            current = []
        else:
            current.append(e)
    return out


# -- the harness as a user runs it: CLI subprocesses, and what they leave behind --------------


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "progressive", *map(str, args)]


def _foreground_signals() -> None:
    """SIGINT at its default, as a terminal's foreground job has it, even when the test run
    itself was started as a background job of a script (SIGINT ignored, inherited by exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Harness:
    """A harness process (`progressive ...` or `pytest ...`) and every process it recorded.

    `scan()` notes each pid recorded under the state dir (STATE/pids, and the load's
    STATE/load-*/pids) and each descendant of the harness, with its create time, and the
    ports those pids listen on (psutil); `leftovers()` lists the ones still alive or
    listening afterwards.
    """

    def __init__(self, argv: list[str], state_dir: Path, log_dir: Path, name: str = "harness"):
        self.state_dir = Path(state_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=err,  # noqa: S603
                                         preexec_fn=_foreground_signals)  # noqa: PLW1509
        self.pids: dict[int, float | None] = {}
        self.ports: set[int] = set()

    def scan(self) -> bool:
        """Note recorded pids and their listening ports; True once the harness has exited."""
        for rec in [*self.state_dir.glob("pids/*.json"), *self.state_dir.glob("load-*/pids/*.json")]:
            try:
                data = json.loads(rec.read_text())
                self.pids[int(data["pid"])] = data.get("create_time")
            except (OSError, ValueError, KeyError, TypeError):
                continue
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.pids.setdefault(child.pid, child.create_time())
        except psutil.Error:
            pass
        for pid, created in list(self.pids.items()):
            if alive(pid, created):
                try:
                    self.ports |= {c.laddr.port for c in psutil.Process(pid).net_connections("inet")
                                   if c.status == psutil.CONN_LISTEN}
                except psutil.Error:
                    continue
        return self.proc.poll() is not None

    def wait_exit(self, timeout: float) -> int:
        wait_until(self.scan, timeout=timeout, poll=0.05, max_poll=0.2,
                   what=f"{self.proc.args[2:4]} to exit")
        return self.proc.wait(timeout=5)

    def leftovers(self) -> list[str]:
        listening = {c.laddr.port for c in psutil.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        return ([f"pid {p}" for p, ct in sorted(self.pids.items()) if alive(p, ct)]
                + [f"port {p}" for p in sorted(self.ports & listening)])

    def output(self) -> str:
        return self.out_path.read_text() + self.err_path.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def alive(pid: int, create_time: float | None) -> bool:
    """`pid` is still the recorded process (not a reused pid, not a zombie)."""
    try:
        p = psutil.Process(pid)
        same = create_time is None or abs(p.create_time() - create_time) < 0.01
        return same and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
