"""Helpers for the routing tests: Croc Hunter backends, small HTTP clients that tally which
version answered (every response carries `X-Version`), and the binomial share check.
"""

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

from progressive.model.types import Analysis, CanarySpec, HeaderMatch, MatchKind, RequestMatch
from progressive.processes import ManagedProcess, start_process
from progressive.stats import acceptance_interval, wilson_interval
from progressive.waiting import wait_until

APP_START_TIMEOUT_S = 20.0  # Python + aiohttp import on a busy 2-core machine
HTTP_TIMEOUT_S = 10.0
NAMESPACE = "test"
ALPHA = 1e-4  # false-alarm probability of every statistical assertion in these tests


@dataclass
class Backend:
    version: str
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def request_count(self, path: str) -> int:
        """Requests this app answered on a route template, from its own /metrics."""
        text = requests.get(self.url + "/metrics", timeout=HTTP_TIMEOUT_S).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("croc_hunter_requests_total{") and f'path="{path}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


def start_backend(state_dir: Path, version: str, *flags: str) -> Backend:
    """One Croc Hunter process on an OS-chosen port (stopped with the state dir's records)."""
    port_file = state_dir / f"{version}.port"
    argv = [sys.executable, "-m", "progressive.app", "--version", version,
            "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file), *flags]  # fmt: skip
    proc = start_process(f"app-{version}", argv, state_dir)

    def bound() -> int | None:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text())
        assert proc.alive(), f"app {version} exited:\n{proc.log_tail()}"
        return None

    port = wait_until(bound, timeout=APP_START_TIMEOUT_S, what=f"app {version} to bind")
    return Backend(version, proc, port)


def canary_spec(name: str = "croc-hunter", match: tuple[RequestMatch, ...] = (),
                hosts: tuple[str, ...] = ()) -> CanarySpec:  # fmt: skip
    return CanarySpec(name=name, namespace=NAMESPACE, target=name,
                      analysis=Analysis(step_weight=10, match=match), hosts=hosts)  # fmt: skip


def header_match(name: str, value: str, kind: MatchKind = MatchKind.EXACT) -> RequestMatch:
    return RequestMatch(headers=(HeaderMatch(name, kind, value),))


@dataclass
class Tally:
    versions: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def n(self) -> int:
        return sum(self.versions.values()) + len(self.failures)

    @property
    def rate(self) -> float:
        return self.n / self.elapsed_s if self.elapsed_s else 0.0


def blast(url: str, n: int, *, concurrency: int = 16, headers: dict | None = None) -> Tally:
    """Send `n` GETs to `url` over `concurrency` keep-alive connections; tally X-Version."""
    tally = Tally()

    async def run() -> None:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=concurrency)
        left = n
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    try:
                        async with session.get(url, headers=headers) as resp:
                            await resp.read()
                            if resp.status == 200:
                                tally.versions[resp.headers.get("X-Version", "?")] += 1
                            else:
                                tally.failures.append(f"HTTP {resp.status}")
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        tally.failures.append(repr(exc))

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(run())
    tally.elapsed_s = time.perf_counter() - started
    return tally


@dataclass
class Sample:
    started: float  # time.monotonic() when the request was sent
    version: str | None  # None: failed
    detail: str = ""


class Hammer:
    """Background threads sending requests back to back, each recording every answer."""

    def __init__(self, url: str, threads: int = 2):
        self.url = url
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                resp = session.get(self.url, timeout=HTTP_TIMEOUT_S)
                ok = resp.status_code == 200
                self.samples.append(Sample(started, resp.headers.get("X-Version") if ok else None,
                                           "" if ok else f"HTTP {resp.status_code}"))  # fmt: skip
            except requests.RequestException as exc:
                self.samples.append(Sample(started, None, repr(exc)))

    def __enter__(self) -> Hammer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=HTTP_TIMEOUT_S + 5)

    def failures(self) -> list[Sample]:
        return [s for s in self.samples if s.version is None]


def assert_share(tally: Tally, version: str, weight: int, total_weight: int = 100) -> str:
    """Binomial check of `version`'s share against its weight (false alarm <= ALPHA).

    Returns a one-line description (observed share and its interval) for the report.
    """
    assert not tally.failures, f"{len(tally.failures)} failed requests, e.g. {tally.failures[:3]}"
    n, k = tally.n, tally.versions[version]
    p = weight / total_weight
    lo, hi = acceptance_interval(n, p, ALPHA)
    w_lo, w_hi = wilson_interval(k, n, 1 - ALPHA)
    line = (
        f"{version}: {k}/{n} = {k / n:.4f} (expected {p:.4f}, accepted {lo}..{hi} at "
        f"alpha={ALPHA}; Wilson {w_lo:.4f}..{w_hi:.4f}; {tally.rate:.0f} req/s)"
    )
    assert lo <= k <= hi, line
    return line
