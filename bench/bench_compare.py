"""Benchmark the load clients side by side on one gateway: wrk, Locust as the suites run it,
and the in-process aiohttp client.

    python bench/bench_compare.py              prints a markdown table | metric | value | target |
    from bench.bench_compare import run        rows for bench/run.py (issue 14)

One local platform: the seed's canary target with 2 primary replicas (v1) and 1 canary replica
(v2), routed 90/10 on the canary's own host. Each client sends GET / unpaced for the same time
(8 s by default), one after the other, so they never share the CPU with each other:

- wrk (Debian's `wrk`, C, no per-request records): the gateway's ceiling on this machine;
- Locust as `progressive.load.traffic` runs it for the suites: FastHttpUser, one record line per
  request (time, status, latency, version), one process of 20 users and 2 worker processes of
  25 users each. The rate counts the records written (every request, as the suites judge them)
  after the first second (ramp-up), per second;
- the in-process aiohttp client of bench_platform (64 connections, no records).

Target: Locust / wrk >= 0.6 (the harness's per-request recording costs at most 40% of what the
gateway can serve). Without wrk on PATH the wrk rows say how to install it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_platform import throughput  # noqa: E402 - bench/ is on sys.path
from benchsetup import NAMESPACE, two_versions  # noqa: E402
from benchtable import markdown_table  # noqa: E402

from progressive.platforms.local.platform import LocalPlatform

SECONDS = 8.0
RAMP_S = 1.0  # Locust's first second (users spawning, connections opening) is not counted
WRK_CONNECTIONS = 64
LOCUST_SETUPS = ((20, 0), (50, 2), (100, 2))  # (users, workers): as measure_split; the fastest
TARGET_RATIO = 0.6
INSTALL_WRK = "apt-get install -y wrk (Debian/Ubuntu), brew install wrk (macOS)"

Row = tuple[str, str, str]


def wrk_rate(url: str, host: str, seconds: float) -> tuple[float, int, str]:
    """(req/s, non-2xx responses, p99 latency as wrk prints it) of one wrk run."""
    binary = shutil.which("wrk")
    if binary is None:
        raise FileNotFoundError(f"wrk is not on PATH: {INSTALL_WRK}")
    argv = [binary, "-t2", f"-c{WRK_CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
            "-H", f"Host: {host}", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True,  # noqa: S603
                         timeout=seconds + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    return float(rate.group(1)), int(bad.group(1)) if bad else 0, p99.group(1) if p99 else "-"


def locust_rate(url: str, host: str, seconds: float, users: int, workers: int) -> tuple[float, int, int]:
    """(records per second after the ramp, records counted, failed) of one Locust run."""
    from progressive.load.recording import is_failure
    from progressive.load.traffic import traffic

    with traffic(url, rps=0, users=users, workers=workers, duration_s=seconds + RAMP_S,
                 host_header=host) as run:
        run.wait_for_requests(1, timeout=60)
    records = sorted(run.records, key=lambda r: r.t)
    if not records:
        raise RuntimeError("Locust recorded no request")
    start = records[0].t + RAMP_S
    counted = [r for r in records if r.t >= start]
    window = counted[-1].t - start if counted else 0.0
    if window <= 0:
        raise RuntimeError(f"Locust ran less than {RAMP_S} s")
    return len(counted) / window, len(counted), sum(1 for r in counted if is_failure(r.status))


def measure(seconds: float = SECONDS) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        platform = LocalPlatform(Path(tmp) / "platform", NAMESPACE)
        try:
            platform.up()
            spec = two_versions(platform, primary_replicas=2)
            platform.router().set_routes(spec, 90, 10)
            url, host = platform.gateway_url + "/", platform.gateway_host(spec)
            try:
                out["wrk"] = wrk_rate(url, host, seconds)
            except FileNotFoundError as exc:
                out["wrk"] = str(exc)
            out["locust"] = {setup: locust_rate(url, host, seconds, *setup) for setup in LOCUST_SETUPS}
            out["inprocess"] = throughput(url, seconds, headers={"Host": host})
            if not platform.gateway.alive():
                raise RuntimeError("the Envoy gateway died during the benchmark")
        finally:
            platform.down()
    return out


def rows(m: dict, seconds: float = SECONDS) -> list[Row]:
    out: list[Row] = []
    wrk = m["wrk"]
    if isinstance(wrk, str):
        out.append(("wrk (C, no records)", f"not measured: {wrk}", "-"))
        wrk_rps = None
    else:
        wrk_rps, bad, p99 = wrk
        out.append((f"wrk, 2 threads, {WRK_CONNECTIONS} connections, {seconds:g} s",
                    f"{wrk_rps:,.0f} req/s, p99 {p99}, non-2xx {bad}", "-"))
    best = 0.0
    for (users, workers), (rps, n, failed) in m["locust"].items():
        how = f"{users} users, " + (f"{workers} workers" if workers else "1 process")
        best = max(best, rps)
        out.append((f"Locust with per-request records, {how}",
                    f"{rps:,.0f} req/s ({n:,} records, {failed} failed)", "-"))
    ip_rps, _lat, ip_err = m["inprocess"]
    out.append((f"in-process aiohttp client, 64 connections, {seconds:g} s",
                f"{ip_rps:,.0f} req/s, non-200 {ip_err}", "-"))
    if wrk_rps:
        out.append(("Locust (best setup, records on) / wrk", f"{best / wrk_rps:.2f}",
                    f">= {TARGET_RATIO:g}"))
        out.append(("in-process client / wrk", f"{ip_rps / wrk_rps:.2f}", "-"))
    return out


def run(seconds: float = SECONDS) -> list[Row]:
    """The benchmark's rows `(metric, value, target)`, for this script and bench/run.py."""
    return rows(measure(seconds), seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=SECONDS)
    a = p.parse_args(argv)
    print(markdown_table(run(a.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
