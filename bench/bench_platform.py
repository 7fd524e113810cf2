"""Benchmark the local platform: up/down time, weight propagation, gateway cost, memory.

    python bench/bench_platform.py             prints a markdown table | metric | value | target |
    from bench.bench_platform import run       rows for bench/run.py (issue 2, section 5)

(a) `LocalPlatform.up()` (returns once the gateway serves) and `down()`, median of 3 on fresh
state dirs with no workload; `down()` once more at the end with primary and canary running;
`progressive up` / `progressive down` wall time once each, as a user runs them.
(b) Weight propagation: primary v1 and canary v2 (1 replica each) behind one canary route; the
router flips 100/0 <-> 0/100 while a client thread sends GET / back to back. Latency is from
the start of `set_routes` (and from the rename of the RDS file) to the first answer of the new
side (`X-Version`); the `set_routes` call itself returns once Envoy confirmed the update.
(c) Gateway throughput against one app process hit directly, same aiohttp client.
(d) Resident memory of every process recorded in STATE/pids (and their children): idle, and
under ~200 req/s of Locust load. The harness process itself is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import psutil
import requests
from benchsetup import NAMESPACE, two_versions  # noqa: E402 - bench/ is on sys.path
from benchtable import markdown_table  # noqa: E402

import progressive.platforms.local.envoy as envoy_module
from progressive import processes
from progressive.model.types import CanarySpec
from progressive.platforms.local.platform import LocalPlatform

REPO = Path(__file__).resolve().parents[1]
UP_REPEATS = 3
FLIPS = 50
FLIP_BOUND_S = 5.0  # the new side must answer within this after set_routes started
CONCURRENCY = 64
THROUGHPUT_S = 5.0
WARMUP_S = 0.5
MEMORY_RPS = 200
MEMORY_S = 5.0
IDLE_S = 3.0
SAMPLE_EVERY_S = 0.25
CLI_TIMEOUT_S = 120.0

Row = tuple[str, str, str]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- (a) up and down ----------------------------------------------------------------------


def up_down_times(root: Path, repeats: int = UP_REPEATS) -> tuple[list[float], list[float]]:
    ups, downs = [], []
    for i in range(repeats):
        platform = LocalPlatform(root / f"updown-{i}", NAMESPACE)
        try:
            t0 = time.perf_counter()
            platform.up()
            ups.append(time.perf_counter() - t0)
        finally:
            t0 = time.perf_counter()
            platform.down()
            downs.append(time.perf_counter() - t0)
    return ups, downs


def cli_up_down(state: Path) -> tuple[float, float]:
    """Wall time of `progressive up` and `progressive down`, each a fresh interpreter."""
    def timed(command: str) -> float:
        argv = [sys.executable, "-m", "progressive", command, "--state-dir", str(state)]
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,  # noqa: S603
                              timeout=CLI_TIMEOUT_S, check=False)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(f"progressive {command} exited {done.returncode}:\n{done.stderr}")
        return elapsed

    try:
        up = timed("up")
        down = timed("down")
    finally:
        processes.stop_all_recorded(state)  # `up` detaches its processes: stop them whatever happened
    return up, down


# -- (b) weight propagation ---------------------------------------------------------------


class Hammer(threading.Thread):
    """GET / back to back through one keep-alive connection; signals the first answer of a side."""

    def __init__(self, url: str):
        super().__init__(name="hammer", daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.seen = threading.Event()
        self._lock = threading.Lock()
        self.expect: str | None = None
        self.first_at = 0.0
        self.sent = self.failed = 0
        self.error: BaseException | None = None

    def expect_version(self, version: str) -> None:
        with self._lock:
            self.expect = version
            self.seen.clear()

    def run(self) -> None:
        session = requests.Session()
        try:
            while not self.stop.is_set():
                try:
                    r = session.get(self.url, timeout=5)
                    status, version = r.status_code, r.headers.get("X-Version")
                except requests.RequestException:
                    status, version = 0, None
                done = time.perf_counter()
                self.sent += 1
                if status != 200:
                    self.failed += 1
                    continue
                with self._lock:
                    if version == self.expect and not self.seen.is_set():
                        self.first_at = done
                        self.seen.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            session.close()


class RenameClock:
    """Time at which the RDS file was last replaced: wraps the gateway's atomic_write for a while."""

    def __init__(self, rds_path: Path):
        self.rds_path = Path(rds_path)
        self.at = 0.0
        self._original = envoy_module.atomic_write

    def __enter__(self) -> RenameClock:
        def timed_write(path: Path, text: str) -> None:
            self._original(path, text)
            if Path(path) == self.rds_path:
                self.at = time.perf_counter()

        envoy_module.atomic_write = timed_write
        return self

    def __exit__(self, *exc) -> None:
        envoy_module.atomic_write = self._original


def propagation(platform: LocalPlatform, spec: CanarySpec, flips: int = FLIPS) -> dict:
    router = platform.router()
    hammer = Hammer(platform.gateway_url + "/")
    hammer.expect_version("v1")
    hammer.start()
    from_start, from_rename, call = [], [], []
    try:
        if not hammer.seen.wait(FLIP_BOUND_S):
            raise RuntimeError("the gateway never answered with v1 before the flips")
        with RenameClock(platform.gateway.paths["rds"]) as rename:
            for i in range(flips):
                to_canary = i % 2 == 0
                hammer.expect_version("v2" if to_canary else "v1")
                t0 = time.perf_counter()
                router.set_routes(spec, *((0, 100) if to_canary else (100, 0)))
                call.append(time.perf_counter() - t0)
                if not hammer.seen.wait(FLIP_BOUND_S):
                    raise RuntimeError(f"flip {i}: the new side did not answer within {FLIP_BOUND_S} s")
                from_start.append(hammer.first_at - t0)
                from_rename.append(hammer.first_at - rename.at)
    finally:
        hammer.stop.set()
        hammer.join(timeout=10)
    if hammer.error is not None:
        raise RuntimeError(f"the client thread crashed: {hammer.error!r}")
    return {"from_start": from_start, "from_rename": from_rename, "call": call,
            "sent": hammer.sent, "failed": hammer.failed}


# -- (c) throughput -----------------------------------------------------------------------


async def _closed_loop(url: str, seconds: float, concurrency: int,
                       headers: dict[str, str] | None = None) -> tuple[float, list[float], int]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as s:
        loop = asyncio.get_running_loop()

        async def worker(deadline: float, keep: bool) -> None:
            nonlocal errors
            while loop.time() < deadline:
                t0 = time.perf_counter()
                async with s.get(url, headers=headers) as r:
                    await r.read()
                if keep:
                    latencies.append(time.perf_counter() - t0)
                    errors += r.status != 200

        warm = loop.time() + WARMUP_S
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        started = time.perf_counter()
        end = loop.time() + seconds
        await asyncio.gather(*(worker(end, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def throughput(url: str, seconds: float = THROUGHPUT_S, concurrency: int = CONCURRENCY,
               headers: dict[str, str] | None = None):
    """(req/s, latencies, non-200) of a closed loop of `concurrency` aiohttp connections."""
    return asyncio.run(_closed_loop(url, seconds, concurrency, headers))


# -- (d) memory ---------------------------------------------------------------------------


def platform_rss(state_dir: Path) -> dict[str, int]:
    """RSS in bytes by role (gateway, prometheus, apps) of every recorded process + children."""
    by_role: dict[str, int] = {"gateway": 0, "prometheus": 0, "apps": 0}
    seen: set[int] = set()
    for rec in processes.recorded_processes(state_dir):
        if not processes.pid_alive(rec["pid"], rec.get("create_time")):
            continue
        name = str(rec.get("name"))
        role = "apps" if name.startswith("app-") else "gateway" if name == "envoy" else "prometheus"
        try:
            proc = psutil.Process(rec["pid"])
            family = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for p in family:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                by_role[role] += p.memory_info().rss
            except psutil.Error:
                continue
    return by_role


def sample_rss(state_dir: Path, seconds: float) -> list[dict[str, int]]:
    samples, stop = [], threading.Event()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(platform_rss(state_dir))
        stop.wait(SAMPLE_EVERY_S)  # a sampling period, not a wait for a condition
    return samples


def memory_under_load(platform: LocalPlatform, rate: float = MEMORY_RPS,
                      seconds: float = MEMORY_S) -> tuple[list[dict[str, int]], float]:
    from progressive.load.traffic import traffic

    with traffic(platform.gateway_url, rps=rate, users=10) as run:
        run.wait_for_requests(int(rate), timeout=60)
        t0, n0 = time.time(), len(run.records)
        samples = sample_rss(platform.state_dir, seconds)
        achieved = (len(run.records) - n0) / (time.time() - t0)
    return samples, achieved


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _memory(samples: list[dict[str, int]], pick) -> str:
    """The sample whose total `pick` chooses (median_low, max), with its parts."""
    totals = [sum(s.values()) for s in samples]
    chosen = samples[totals.index(pick(totals))]
    parts = ", ".join(f"{k} {_mib(v)}" for k, v in chosen.items())
    return f"{_mib(sum(chosen.values()))} ({parts}; {len(samples)} samples)"


# -- the benchmark ------------------------------------------------------------------------


def measure(flips: int = FLIPS, throughput_s: float = THROUGHPUT_S) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-platform-") as tmp:
        root = Path(tmp)
        out["ups"], out["downs"] = up_down_times(root)
        out["cli_up"], out["cli_down"] = cli_up_down(root / "cli")
        platform = LocalPlatform(root / "platform", NAMESPACE)
        try:
            platform.up()
            spec = two_versions(platform)
            wl = platform.workloads(NAMESPACE)
            platform.router().set_routes(spec, 100, 0)
            out["idle"] = sample_rss(platform.state_dir, IDLE_S)
            out["loaded"], out["loaded_rate"] = memory_under_load(platform)
            out["harness_rss"] = psutil.Process().memory_info().rss
            out["flips"] = propagation(platform, spec, flips)
            platform.router().set_routes(spec, 100, 0)
            out["gateway"] = throughput(platform.gateway_url + "/", throughput_s)
            host, port = wl.endpoints(spec.primary_name)[0]
            out["direct"] = throughput(f"http://{host}:{port}/", throughput_s)
            if not platform.gateway.alive():
                raise RuntimeError("the Envoy gateway died during the benchmark")
        finally:
            t0 = time.perf_counter()
            platform.down()
            out["down_full"] = time.perf_counter() - t0
    return out


def rows(f: dict, throughput_s: float = THROUGHPUT_S) -> list[Row]:
    fl = f["flips"]
    n = len(fl["from_start"])
    g_rps, g_lat, g_err = f["gateway"]
    d_rps, d_lat, d_err = f["direct"]
    return [
        (f"platform up (median of {len(f['ups'])}, until the gateway serves)",
         f"{statistics.median(f['ups']):.2f} s (runs {', '.join(f'{u:.2f}' for u in f['ups'])})", "-"),
        (f"platform down (median of {len(f['downs'])})",
         f"{statistics.median(f['downs']):.2f} s (runs {', '.join(f'{d:.2f}' for d in f['downs'])})", "-"),
        ("platform down with primary + canary deployed (once)", f"{f['down_full']:.2f} s", "-"),
        ("`progressive up` / `progressive down` wall time (CLI, once)",
         f"{f['cli_up']:.2f} s / {f['cli_down']:.2f} s", "-"),
        (f"weight propagation, set_routes start -> first answer of the new side, p50 / p99 ({n} flips)",
         f"{_ms(_pct(fl['from_start'], 0.5))} / {_ms(_pct(fl['from_start'], 0.99))}", "-"),
        (f"weight propagation, RDS rename -> first answer of the new side, p50 / p99 ({n} flips)",
         f"{_ms(_pct(fl['from_rename'], 0.5))} / {_ms(_pct(fl['from_rename'], 0.99))}", "-"),
        ("set_routes call (write, rename, Envoy confirms), p50 / p99",
         f"{_ms(_pct(fl['call'], 0.5))} / {_ms(_pct(fl['call'], 0.99))}", "-"),
        ("failed requests across the flips (client thread, back to back)",
         f"{fl['failed']} of {fl['sent']:,}", "0"),
        (f"gateway throughput, GET / ({CONCURRENCY} connections, {throughput_s:g} s), p99",
         f"{g_rps:,.0f} req/s, p99 {_ms(_pct(g_lat, 0.99))}, non-200 {g_err}", "-"),
        ("one app process hit directly, same client, p99",
         f"{d_rps:,.0f} req/s, p99 {_ms(_pct(d_lat, 0.99))}, non-200 {d_err}", "-"),
        ("gateway / direct throughput", f"{g_rps / d_rps:.2f}", "-"),
        ("platform RSS idle, primary + canary (1 replica each), median sample",
         _memory(f["idle"], statistics.median_low), "-"),
        (f"platform RSS under {f['loaded_rate']:.0f} req/s (Locust, target {MEMORY_RPS}), max sample",
         _memory(f["loaded"], max), "-"),
        ("harness process RSS (holds the platform; not counted above)", _mib(f["harness_rss"]), "-"),
    ]


def run(flips: int = FLIPS, throughput_s: float = THROUGHPUT_S) -> list[Row]:
    """The benchmark's rows `(metric, value, target)`, for this script and bench/run.py."""
    return rows(measure(flips, throughput_s), throughput_s)




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flips", type=int, default=FLIPS)
    p.add_argument("--throughput-s", type=float, default=THROUGHPUT_S)
    a = p.parse_args(argv)
    try:
        result = run(a.flips, a.throughput_s)
    except Exception as exc:  # noqa: BLE001 - a crashed benchmark is reported, exit 1
        print(f"bench_platform: failed: {exc}", file=sys.stderr)
        return 1
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
