"""Benchmark the k8s-local platform: up time, pod -> Ready, route change -> gateway, memory.

    python bench/bench_k8s_local.py            prints a markdown table | metric | value | target |
    from bench.bench_k8s_local import run      rows for bench/run.py

(a) `K8sLocalPlatform.up()` until the gateway serves Croc Hunter v1 (control plane, CRDs,
node and mesh agents, three replicas Ready), with the time of each step.
(b) A Deployment with a readiness probe of period 1 s: pod created -> Ready (PODS times).
(c) A VirtualService's weights changed through the Istio router, until the Envoy gateway
serves them (FLIPS changes; the router waits for it, so this is set_routes' own duration).
(d) Resident memory of every process the platform's state dir records (control plane, agents,
gateway, Prometheus, pods). The tools must be built (`progressive tools install`).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchtable import Row, markdown_table

from progressive.model.types import Analysis, CanarySpec
from progressive.platforms.k8s_local.platform import K8sLocalPlatform
from progressive.processes import recorded_processes
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

PODS = 5
FLIPS = 20
NS = "bench"


def measure() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-k8s-local-") as tmp:
        platform = K8sLocalPlatform(Path(tmp))
        started = time.monotonic()
        platform.up()
        up_s = time.monotonic() - started
        try:
            ready = [_pod_to_ready(platform, f"p{i}") for i in range(PODS)]
            flips = _route_changes(platform)
            rss = sum(_rss(r["pid"]) for r in recorded_processes(Path(tmp)))
            count = len(recorded_processes(Path(tmp)))
        finally:
            platform.down()
    return {"up_s": up_s, "steps": dict(platform.timings), "ready_s": ready, "flips_s": flips,
            "rss": rss, "processes": count}


def _pod_to_ready(platform: K8sLocalPlatform, name: str) -> float:
    workloads = platform.workloads(NS)
    started = time.monotonic()
    workloads.deploy(name, AppVersion("v1"), replicas=1)
    wait_until(lambda: workloads.is_ready(name).ready, timeout=60, what=f"{name} ready",
               poll=0.02, max_poll=0.05)
    return time.monotonic() - started


def _route_changes(platform: K8sLocalPlatform) -> list[float]:
    spec = CanarySpec(name="flip", namespace=NS, target="flip", analysis=Analysis(interval_s=1))
    workloads = platform.workloads(NS)
    for name in (spec.primary_name, spec.canary_name):
        workloads.deploy(name, AppVersion(name), replicas=1)
    router = platform.router()
    router.reconcile(spec)
    out = []
    for i in range(FLIPS):
        canary = 10 * (i % 5 + 1)
        started = time.monotonic()
        router.set_routes(spec, 100 - canary, canary)  # returns once the gateway serves them
        out.append(time.monotonic() - started)
    return out


def _rss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def rows(m: dict) -> list[Row]:
    ready, flips = sorted(m["ready_s"]), sorted(m["flips_s"])
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in m["steps"].items())
    return [
        ("k8s-local up: until the gateway serves Croc Hunter v1", f"{m['up_s']:.1f} s ({steps})",
         "<= 20 s"),
        (f"pod created -> Ready, readiness period 1 s ({PODS} pods)",
         f"median {statistics.median(ready):.2f} s, max {ready[-1]:.2f} s", "<= 2 s"),
        (f"VirtualService change -> gateway serves it ({FLIPS} changes)",
         f"median {statistics.median(flips) * 1000:.0f} ms, "
         f"p99 {flips[int(0.99 * (len(flips) - 1))] * 1000:.0f} ms", "p99 <= 50 ms"),
        (f"resident memory, {m['processes']} processes of the platform",
         f"{m['rss'] / 2**20:.0f} MiB", "<= 1024 MiB"),
    ]


def run() -> list[Row]:
    return rows(measure())


if __name__ == "__main__":
    print(markdown_table(run()))
    sys.exit(0)
