"""Running `progressive` as a user runs it, in a subprocess, and what each run left behind.

Shared by the CLI tests: `Rollout` starts `python -m progressive rollout ...` (or another
command), records every pid and platform port the run ever had, and tells which are still
alive afterwards.

Time bounds come from the spec (bounds.run_bound of the time-scaled spec) plus a fixed
allowance for starting the platform and Locust on a busy 2-core machine.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from progressive.engine.bounds import run_bound
from progressive.engine.events import read_events
from progressive.model.validate import load_spec
from progressive.processes import pid_alive
from progressive.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "fixtures" / "specs" / "seed-canary.yaml"
TIME_SCALE = 0.1
START_ALLOWANCE_S = 60.0  # platform + Locust start-up and teardown, on a loaded machine
STOP_BOUND_S = 10.0  # SIGINT to exit: Locust's stop (<= 3 s) + stopping the platform

def run_bound_s(spec_path: Path = SEED, time_scale: float = TIME_SCALE) -> float:
    return run_bound(load_spec(spec_path).scaled(time_scale)) + START_ALLOWANCE_S


class Rollout:
    """One `progressive rollout` subprocess and what it left behind."""

    def __init__(self, tmp_path: Path, *args: str, sigint: object = signal.SIG_DFL,
                 state: Path | None = None, command: str = "rollout"):
        """`sigint`: the disposition it starts with; SIG_IGN as a script's `cmd &` starts it.
        `state`: a state dir shared with other runs (default: one of its own)."""
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.state = state or tmp_path / "state"
        self.events = tmp_path / "events.jsonl"
        events = ["--events-json", str(self.events)] if command == "rollout" else []
        argv = [sys.executable, "-m", "progressive", command, *args,
                "--state-dir", str(self.state), *events]
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
        alive = [f"pid {pid}" for pid, ct in self.pids.items() if pid_alive(pid, ct)]
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

