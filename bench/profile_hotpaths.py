"""Where the harness's own CPU goes: py-spy profiles of its three hot paths on the real platform.

    python bench/profile_hotpaths.py tick        the engine's tick (the seed rollout, time scale 0.1)
    python bench/profile_hotpaths.py routes      set_routes, flipping 100/0 <-> 0/100 under a client
    python bench/profile_hotpaths.py recorder    Locust with per-request records, unpaced, 8 s
    python bench/profile_hotpaths.py tick --top 40 --keep tick.raw

Not a benchmark (bench/run.py does not run it): it prints, for the frames under the path's
entry point, the share of CPU samples each one took itself, then with what it calls, largest
first. py-spy
(pinned in the dev extras) samples a child process that runs the workload; it skips idle
threads, so waits are left out. It needs ptrace (root, or CAP_SYS_PTRACE in a container).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENTRY = {"tick": "Engine.tick", "routes": "EnvoyRouter.set_routes", "recorder": "User.run"}
RATE_HZ = 1000
ROUTE_FLIPS = 200
LOCUST_S = 8


def shares(raw: Path, entry: str) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Samples under `entry`; per frame (function and file:line) the samples it was on the
    stack of (inclusive) and those it was running itself (self), from py-spy's raw output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        start = next((i for i, f in enumerate(frames) if f.startswith(entry + " ")), None)
        if start is None:
            continue
        total += int(n)
        own[_short(frames[-1])] += int(n)
        for frame in dict.fromkeys(_short(f) for f in frames[start:]):
            inclusive[frame] += int(n)
    return total, inclusive.most_common(), own.most_common()


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit('/', 1)[-1]})" if where else name


# -- the workloads, run in the profiled child -------------------------------------------------


def workload_tick() -> None:
    from progressive.model.validate import load_spec
    from progressive.rollout import RolloutOptions, run_canary

    spec = load_spec(HERE.parent / "fixtures" / "specs" / "seed-canary.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        run_canary(spec, RolloutOptions("v2", rps=100, time_scale=0.1, state_dir=Path(tmp)))


def _platform_with_two_versions(tmp: Path, primary_replicas: int = 1):
    from benchsetup import NAMESPACE, two_versions

    from progressive.platforms.local.platform import LocalPlatform

    platform = LocalPlatform(tmp / "platform", NAMESPACE)
    platform.up()
    return platform, two_versions(platform, primary_replicas)


def workload_routes() -> None:
    from bench_platform import propagation

    with tempfile.TemporaryDirectory() as tmp:
        platform, spec = _platform_with_two_versions(Path(tmp))
        try:
            platform.router().set_routes(spec, 100, 0)
            propagation(platform, spec, ROUTE_FLIPS)
        finally:
            platform.down()


def workload_recorder() -> None:
    """Locust as the suites run it, itself under py-spy (it is a process of its own)."""
    from progressive.load.traffic import LOCUSTFILE, locust_binary

    with tempfile.TemporaryDirectory() as tmp:
        platform, spec = _platform_with_two_versions(Path(tmp), primary_replicas=2)
        try:
            platform.router().set_routes(spec, 90, 10)
            env = {**os.environ, "PROGRESSIVE_RECORD": f"{tmp}/records.csv",
                   "PROGRESSIVE_RPS": "0", "PROGRESSIVE_USERS": "20",
                   "PROGRESSIVE_HOST_HEADER": platform.gateway_host(spec)}
            subprocess.run([*_py_spy(os.environ["PROFILE_OUT"]), locust_binary(),  # noqa: S603
                            "-f", str(LOCUSTFILE), "--host", platform.gateway_url,
                            "--headless", "-u", "20", "-r", "200", "-t", f"{LOCUST_S}s",
                            "--only-summary"], env=env, cwd=tmp, check=True,
                           capture_output=True)
        finally:
            platform.down()


sys.path.insert(0, str(HERE))  # the bench helpers, also in the profiled child
WORKLOADS = {"tick": workload_tick, "routes": workload_routes, "recorder": workload_recorder}


def _py_spy(out: str) -> list[str]:
    binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if binary is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[dev]' (or pip install py-spy)")
    return [binary, "record", "-r", str(RATE_HZ), "--format", "raw", "-o", out, "--"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", choices=sorted(WORKLOADS))
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--keep", type=Path, help="keep py-spy's raw output here")
    p.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.workload:  # the profiled child
        WORKLOADS[a.path]()
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        raw = a.keep or Path(tmp) / "profile.raw"
        me = [sys.executable, __file__, a.path, "--workload"]
        argv_child = me if a.path == "recorder" else [*_py_spy(str(raw)), *me]
        done = subprocess.run(argv_child, env={**os.environ, "PROFILE_OUT": str(raw)},  # noqa: S603
                              capture_output=True, text=True, check=False)
        if done.returncode != 0 or not raw.exists():
            print(done.stdout[-2000:] + done.stderr[-2000:], file=sys.stderr)
            return 1
        total, inclusive, own = shares(raw, ENTRY[a.path])
    print(f"{a.path}: {total} samples at {RATE_HZ} Hz under {ENTRY[a.path]} "
          f"({total / RATE_HZ * 1000:.0f} ms of CPU)\n")
    for title, rows in (("where the CPU is spent (self)", own),
                        ("what it is spent under (inclusive)", inclusive)):
        print(f"| share | {title} |\n|---|---|")
        for frame, n in rows[: a.top]:
            print(f"| {100 * n / total:5.1f}% | {frame} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
