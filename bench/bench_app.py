"""Benchmark one Croc Hunter process on loopback: peak throughput, and latency at a paced rate.

    python bench/bench_app.py                  prints a markdown table | metric | value | target |
    from bench.bench_app import run            rows for bench/run.py

The app runs in its own process (as on the local platform); the client is an aiohttp client in
this process. (a) Closed loop: CONCURRENCY connections send GET / back to back for a few
seconds. (b) Open loop: requests start on a fixed schedule at PACED_RPS whatever the answers
do, so a slow answer cannot hide the ones queued behind it; latency is measured from each
request's start. Missing a target is a result, not an error: the exit code is non-zero only
when the benchmark itself fails (the app dies, the client breaks).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from benchtable import markdown_table  # noqa: E402 - bench/ is on sys.path
from prometheus_client.parser import text_string_to_metric_families

from progressive.processes import start_process
from progressive.waiting import wait_until

CONCURRENCY = 64
THROUGHPUT_S = 5.0
PACED_RPS = 200
PACED_S = 5.0
WARMUP_S = 0.5
TARGET_RPS = 1500
TARGET_P99_MS = 10.0
STARTUP_TIMEOUT_S = 20.0

Row = tuple[str, str, str]


@dataclass
class Figures:
    rps: float
    throughput_errors: int
    paced_rate: float
    paced_errors: int
    latencies_s: list[float]
    sent: int  # every GET / the client completed, warm-ups included
    counted_by_app: int  # the app's own croc_hunter_requests_total for GET /

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000.0 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def _closed_loop(session: aiohttp.ClientSession, url: str, seconds: float,
                       concurrency: int) -> tuple[int, int, float]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    ok = errors = 0

    async def worker() -> None:
        nonlocal ok, errors
        while loop.time() < deadline:
            async with session.get(url) as r:
                await r.read()
                if r.status == 200:
                    ok += 1
                else:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, errors, time.perf_counter() - started


async def _open_loop(session: aiohttp.ClientSession, url: str, rate: float,
                     seconds: float) -> tuple[list[float], int, float]:
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    first = loop.time() + 0.05
    latencies: list[float] = []
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, first + i / rate - loop.time()))
        started = time.perf_counter()
        async with session.get(url) as r:
            await r.read()
        latencies.append(time.perf_counter() - started)
        if r.status != 200:
            errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, errors, n / (time.perf_counter() - t0)


async def _measure(url: str, throughput_s: float, paced_s: float, rate: float,
                   concurrency: int) -> Figures:
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm_ok, warm_errors, _ = await _closed_loop(session, url, WARMUP_S, concurrency)
        ok, errors, elapsed = await _closed_loop(session, url, throughput_s, concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm_latencies, _, _ = await _open_loop(session, url, rate, WARMUP_S)
        latencies, paced_errors, paced_rate = await _open_loop(session, url, rate, paced_s)
        async with session.get(url + "metrics") as r:
            counted = _count_of_root(await r.text())
    sent = warm_ok + warm_errors + ok + errors + len(warm_latencies) + len(latencies)
    return Figures(ok / elapsed, errors, paced_rate, paced_errors, latencies, sent, counted)


def _count_of_root(metrics_text: str) -> int:
    """All answers to GET / the app counted itself: a check that the client counts true."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "croc_hunter_requests_total" and sample.labels["path"] == "/":
                total += sample.value
    return int(total)


def measure(throughput_s: float = THROUGHPUT_S, paced_s: float = PACED_S,
            rate: float = PACED_RPS, concurrency: int = CONCURRENCY) -> Figures:
    """Start one app process, measure it, stop it. Raises if the app dies on the way."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        state = Path(tmp)
        port_file = state / "croc.port"
        argv = [sys.executable, "-m", "progressive.app", "--port", "0",
                "--port-file", str(port_file), "--version", "bench"]
        proc = start_process("croc-bench", argv, state)
        try:
            wait_until(lambda: port_file.exists() or not proc.alive(),
                       timeout=STARTUP_TIMEOUT_S, what="the app to bind")
            if not port_file.exists():
                raise RuntimeError(f"the app exited before binding:\n{proc.log_tail()}")
            url = f"http://127.0.0.1:{int(port_file.read_text())}/"
            figures = asyncio.run(_measure(url, throughput_s, paced_s, rate, concurrency))
            if not proc.alive():
                raise RuntimeError(f"the app died during the benchmark:\n{proc.log_tail()}")
            return figures
        finally:
            proc.stop()


def rows(f: Figures, throughput_s: float = THROUGHPUT_S, rate: float = PACED_RPS,
         concurrency: int = CONCURRENCY) -> list[Row]:
    paced = f"GET / at {rate:g} req/s (open loop)"
    return [
        (f"app throughput, GET / ({concurrency} connections, {throughput_s:g} s)",
         f"{f.rps:,.0f} req/s", f">= {TARGET_RPS:,} req/s"),
        ("app non-200 answers under peak load", str(f.throughput_errors), "0"),
        (f"app latency p50, {paced}", f"{f.percentile_ms(0.50):.2f} ms", "-"),
        (f"app latency p99, {paced}", f"{f.percentile_ms(0.99):.2f} ms",
         f"< {TARGET_P99_MS:g} ms"),
        (f"app latency max, {paced}", f"{max(f.latencies_s) * 1000:.2f} ms", "-"),
        ("app paced rate achieved / non-200", f"{f.paced_rate:.1f} req/s / {f.paced_errors}",
         f"{rate:g} req/s / 0"),
        ("app requests counted by the app / sent by the client",
         f"{f.counted_by_app:,} / {f.sent:,}", "equal"),
    ]


def run(throughput_s: float = THROUGHPUT_S, paced_s: float = PACED_S) -> list[Row]:
    """The benchmark's rows `(metric, value, target)`, for this script and bench/run.py."""
    return rows(measure(throughput_s, paced_s), throughput_s)




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--throughput-s", type=float, default=THROUGHPUT_S)
    p.add_argument("--paced-s", type=float, default=PACED_S)
    a = p.parse_args(argv)
    try:
        result = run(a.throughput_s, a.paced_s)
    except Exception as exc:  # noqa: BLE001 - a crashed benchmark is reported, exit 1
        print(f"bench_app: failed: {exc}", file=sys.stderr)
        return 1
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
