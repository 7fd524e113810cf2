"""Helpers for the metrics tests: Croc Hunter processes and a steady-rate HTTP client."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import requests

from progressive.processes import ManagedProcess, start_process
from progressive.waiting import wait_until

APP_START_TIMEOUT_S = 20.0  # Python + aiohttp import on a busy 2-core machine


@dataclass
class App:
    process: ManagedProcess
    port: int

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_app(state_dir: Path, name: str, *flags: str) -> App:
    """One Croc Hunter process on an OS-chosen port, answering /healthz."""
    port_file = state_dir / f"{name}.port"
    argv = [sys.executable, "-m", "progressive.app", "--port", "0", "--port-file", str(port_file)]
    proc = start_process(name, [*argv, *flags], state_dir)

    def listening() -> int | None:
        if not proc.alive():
            raise AssertionError(f"{name} exited:\n{proc.log_tail()}")
        if not port_file.exists():
            return None
        port = int(port_file.read_text())
        ok = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        return port if ok else None

    port = wait_until(listening, timeout=APP_START_TIMEOUT_S, what=f"{name} to answer /healthz")
    return App(proc, port)


@dataclass
class Traffic:
    """Requests sent at a steady rate per URL from a background thread (aiohttp)."""

    urls: list[str]
    rps_per_url: float
    max_in_flight: int = 100
    statuses: dict[str, Counter] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self.statuses = {u: Counter() for u in self.urls}
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    async def _run(self) -> None:
        gate = asyncio.Semaphore(self.max_in_flight)
        timeout = aiohttp.ClientTimeout(total=10)
        period = 1.0 / self.rps_per_url
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks: set[asyncio.Task] = set()
            start = time.monotonic()
            n = 0
            while not self._stop.is_set():
                for url in self.urls:
                    await gate.acquire()
                    task = asyncio.create_task(self._one(session, url, gate))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                n += 1
                await asyncio.sleep(max(0.0, start + n * period - time.monotonic()))
            if tasks:
                await asyncio.wait(tasks, timeout=15)

    async def _one(self, session: aiohttp.ClientSession, url: str, gate: asyncio.Semaphore):
        try:
            async with session.get(url) as response:
                await response.read()
                self.statuses[url][response.status] += 1
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.statuses[url][type(exc).__name__] += 1
        finally:
            gate.release()
