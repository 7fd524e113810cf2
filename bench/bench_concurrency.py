"""How many conformance tests the machine carries at once, and what concurrency buys.

    python bench/bench_concurrency.py [--workers 1 2 3 4] [--platform local|k8s-local]

1. The cost of the shared platform when idle: a local platform started here, the machine's busy
   cores sampled for IDLE_S once its metrics flow.
2. The cost of one rollout test: a serial conformance run (`--workers 1`), whose tests run one
   at a time, so the machine's average busy cores over the run is what one test costs (load,
   engine, apps, their share of Envoy and Prometheus) plus the idle platform.
3. A conformance run per worker count: wall time, outcome, busy cores.

progressive/commands/conformance.py sizes its default from TEST_CPU and PLATFORM_CPU (per platform,
filling at most UTILISATION of the cores): this prints the figures those constants come from. Busy cores: the change of psutil.cpu_times()
(everything but idle and iowait) over the wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
from bench_conformance import run_conformance  # noqa: E402 - bench/ is on sys.path
from benchtable import markdown_table  # noqa: E402

IDLE_S = 10.0


def busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def idle_platform_cores(platform: str = "local") -> float:
    from progressive.session import platform_session

    with tempfile.TemporaryDirectory() as state, platform_session(platform, Path(state)):
        b0, t0 = busy_seconds(), time.monotonic()
        time.sleep(IDLE_S)  # a benchmark's sample window, not a test's wait
        return (busy_seconds() - b0) / (time.monotonic() - t0)


def conformance_run(workers: int, platform: str = "local") -> tuple[str, float, float, str]:
    with tempfile.TemporaryDirectory() as out:
        b0 = busy_seconds()
        code, wall, tail = run_conformance(Path(out), args=["--workers", str(workers),
                                                            "--platform", platform])
        cores = (busy_seconds() - b0) / wall
        report = Path(out) / "conformance.yaml"
        if not report.exists():
            return "no report", wall, cores, tail
        data = yaml.safe_load(report.read_text())
        counts = {k: sum(p["summary"][k] for p in data["profiles"])
                  for k in ("passed", "failed", "skipped", "unsupported")}
        outcome = f"{data['result']} ({counts['passed']} passed, {counts['failed']} failed)"
        return outcome, wall, cores, "" if code in (0, 1) else tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--platform", default="local", choices=["local", "k8s-local"])
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    idle = idle_platform_cores(args.platform)
    rows = [("machine", f"{cores} cores", ""),
            (f"idle shared {args.platform} platform", f"{idle:.2f} cores",
             f"PLATFORM_CPU[{args.platform!r}]")]
    for n in sorted(set(args.workers)):
        outcome, wall, busy, tail = conformance_run(n, args.platform)
        if tail:
            print(tail, file=sys.stderr)
        rows.append((f"conformance, {n} worker(s)", f"{wall:.0f} s, {busy:.2f} cores busy",
                     outcome))
        if n == 1:
            rows.append(("one rollout test (serial run - idle platform)",
                         f"{busy - idle:.2f} cores", f"TEST_CPU[{args.platform!r}]"))
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
