"""Fixtures that run real Croc Hunter processes on OS-chosen ports and stop them afterwards.

`launch(*flags, env={...})` starts `python -m progressive.app --port 0 --port-file F` through
the project's process supervisor, waits (bounded) for the port file, and returns a
`CrocProcess`; every process started is stopped at teardown.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from progressive.processes import ManagedProcess, start_process
from progressive.waiting import wait_until

# Python + aiohttp import takes ~0.5 s alone; allow for a loaded 2-core machine.
STARTUP_TIMEOUT_S = 20.0
# progressive.app.server.SHUTDOWN_GRACE_S (4 s) plus process exit, with a wide margin.
EXIT_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 10.0

KNOB_ENV = ("CROC_VERSION", "WORKFLOW_RELEASE", "GIT_SHA", "POWERED_BY", "CROC_ERROR_RATE",
            "CROC_LATENCY_MS", "CROC_CRASH_AFTER", "CROC_NEVER_READY")


@dataclass
class CrocProcess:
    process: ManagedProcess
    port: int
    port_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, session: requests.Session | None = None, **kw) -> requests.Response:
        return (session or requests).get(self.url + path, timeout=HTTP_TIMEOUT_S, **kw)

    def output(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def wait_exit(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        popen = self.process.popen
        assert popen is not None
        wait_until(lambda: popen.poll() is not None, timeout=timeout,
                   what=f"{self.process.name} to exit")
        return popen.returncode


class Launcher:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.started: list[ManagedProcess] = []

    def __call__(self, *flags: str, env: dict[str, str] | None = None) -> CrocProcess:
        name = f"croc-{len(self.started)}"
        port_file = self.state_dir / f"{name}.port"
        argv = [sys.executable, "-m", "progressive.app", "--port", "0",
                "--port-file", str(port_file), *flags]
        proc = start_process(name, argv, self.state_dir, env=env)
        self.started.append(proc)

        def bound_or_dead() -> int | None:
            if port_file.exists():
                return int(port_file.read_text())
            return -1 if not proc.alive() else None

        port = wait_until(bound_or_dead, timeout=STARTUP_TIMEOUT_S, what=f"{name} to bind")
        if port < 0:
            pytest.fail(f"{name} exited before binding:\n{proc.log_tail()}")
        return CrocProcess(proc, port, port_file)

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


@pytest.fixture(scope="session", autouse=True)
def _no_knobs_from_the_outside():
    """Knob variables in the developer's shell must not change what the tests see."""
    with pytest.MonkeyPatch.context() as mp:
        for name in KNOB_ENV:
            mp.delenv(name, raising=False)
        yield


@pytest.fixture
def launch(tmp_path):
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def croc_v3(tmp_path_factory):
    """One shared app (release v3, no faults) for the read-only surface tests of a module."""
    launcher = Launcher(tmp_path_factory.mktemp("croc-v3"))
    try:
        yield launcher("--version", "v3", "--commit", "abc1234", "--powered-by", "pytest")
    finally:
        launcher.stop_all()
