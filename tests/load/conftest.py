"""Real Croc Hunter processes for the load tests, on OS-chosen ports, stopped at teardown.

`croc(*flags)` starts `python -m progressive.app --port 0 --port-file F ...`, waits (bounded)
for the port file and returns the app's base URL.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from progressive.processes import ManagedProcess, start_process
from progressive.waiting import wait_until

# Python + aiohttp import takes ~0.5 s alone; allow for a loaded 2-core machine.
APP_STARTUP_TIMEOUT_S = 30.0


@pytest.fixture
def croc(tmp_path: Path) -> Iterator[Callable[..., str]]:
    started: list[ManagedProcess] = []

    def launch(*flags: str) -> str:
        name = f"croc-{len(started)}"
        port_file = tmp_path / f"{name}.port"
        argv = [sys.executable, "-m", "progressive.app", "--port", "0",
                "--port-file", str(port_file), *flags]
        proc = start_process(name, argv, tmp_path)
        started.append(proc)

        def port_or_dead() -> int | None:
            if port_file.exists() and port_file.read_text().strip():
                return int(port_file.read_text())
            return -1 if not proc.alive() else None

        port = wait_until(port_or_dead, timeout=APP_STARTUP_TIMEOUT_S, what=f"{name} to bind")
        if port < 0:
            pytest.fail(f"{name} exited before binding:\n{proc.log_tail()}")
        return f"http://127.0.0.1:{port}"

    try:
        yield launch
    finally:
        for proc in started:
            proc.stop()
