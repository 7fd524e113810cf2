"""Benchmark one conformance run: wall time against issue 4's 3-minute target, and outcomes.

    python bench/bench_conformance.py          prints a markdown table | metric | value | target |
    from bench.bench_conformance import run    rows for bench/run.py

Runs `python -m progressive conformance --report-dir TMP --no-html` once (local platform,
bundled engine, the default time scale) as a subprocess in its own session, bounded by
TIMEOUT_S, and reads its conformance.yaml: passed / failed / skipped / unsupported, and the
slowest tests. The HTML report is left out: building it is not part of the run being timed.
A failed conformance run is a row (exit 1 is a result); a run that wrote no report is an error.
Repeated runs (the flake rate) are bench_flake.py's job.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from benchtable import markdown_table  # noqa: E402 - bench/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 15 * 60.0
INTERRUPT_GRACE_S = 90.0  # SIGINT: pytest tears its fixtures (platform, Locust) down in this
TARGET_S = 180.0
SLOWEST = 5
OUTCOMES = ("passed", "failed", "skipped", "unsupported")

Row = tuple[str, str, str]


def run_conformance(report_dir: Path, timeout: float = TIMEOUT_S,
                    args: list[str] | None = None) -> tuple[int | None, float, str]:
    """Exit code (None on timeout), wall time and the tail of the output of one run (`args`:
    more options of `progressive conformance`, e.g. a platform and an engine)."""
    argv = [sys.executable, "-m", "progressive", "conformance",
            "--report-dir", str(report_dir), "--no-html", *(args or [])]
    log_path = report_dir / "bench-conformance.log"
    report_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_group(proc)
        elapsed = time.perf_counter() - t0
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    return code, elapsed, tail


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGINT the command (it forwards it to pytest, which tears down); then SIGKILL its group."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=INTERRUPT_GRACE_S)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the command and pytest only
    except ProcessLookupError:
        return
    proc.wait(timeout=10)


def pytest_seconds(output: str) -> float | None:
    """pytest's own time, from the summary line `... in 123.45s` or the CLI's `(123 s)`."""
    found = re.findall(r" in (\d+(?:\.\d+)?)s", output) or re.findall(r"\((\d+) s\)", output)
    return float(found[-1]) if found else None


def summarize(report: dict) -> tuple[dict[str, int], list[tuple[float, str, str]], str]:
    counts = dict.fromkeys(OUTCOMES, 0)
    tests = []
    for profile in report.get("profiles", []):
        for outcome, k in profile.get("summary", {}).items():
            counts[outcome] = counts.get(outcome, 0) + int(k)
        for t in profile.get("tests", []):
            tests.append((float(t.get("durationSeconds", 0.0)), t["name"], t["outcome"]))
    tests.sort(reverse=True)
    return counts, tests, str(report.get("result"))


def measure(timeout: float = TIMEOUT_S) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-conformance-") as tmp:
        report_dir = Path(tmp) / "report"
        code, elapsed, tail = run_conformance(report_dir, timeout)
        report_path = report_dir / "conformance.yaml"
        if not report_path.exists():
            what = "timed out" if code is None else f"exited {code}"
            raise RuntimeError(f"the conformance run {what} without a report:\n{tail}")
        report = yaml.safe_load(report_path.read_text())
    counts, tests, result = summarize(report)
    return {"code": code, "elapsed": elapsed, "pytest_s": pytest_seconds(tail), "counts": counts,
            "tests": tests, "result": result, "time_scale": report.get("timeScale")}


def rows(f: dict, timeout: float = TIMEOUT_S) -> list[Row]:
    c = f["counts"]
    if f["code"] is None:
        wall = f">= {timeout:.0f} s (timed out)"
    else:
        wall = f"{f['elapsed']:.0f} s ({f['elapsed'] / 60:.1f} min)"
        wall += ": target met" if f["elapsed"] <= TARGET_S else ": target NOT met"
    pytest_s = f["pytest_s"]
    out: list[Row] = [
        (f"conformance run wall time (local, bundled, time scale {f['time_scale']}, no HTML)",
         wall, f"<= {TARGET_S / 60:.0f} min"),
        ("of which pytest (as it reports)", "-" if pytest_s is None else f"{pytest_s:.0f} s", "-"),
        ("result (exit code)", f"{f['result']} ({f['code']})", "success (0)"),
        ("tests passed / failed / skipped / unsupported",
         " / ".join(str(c.get(k, 0)) for k in OUTCOMES), "all passed or unsupported"),
        ("sum of per-test durations", f"{sum(t[0] for t in f['tests']):.0f} s", "-"),
    ]
    for i, (seconds, name, outcome) in enumerate(f["tests"][:SLOWEST], start=1):
        out.append((f"slowest test #{i}: {name}", f"{seconds:.1f} s ({outcome})", "-"))
    return out


def run(timeout: float = TIMEOUT_S) -> list[Row]:
    """The benchmark's rows `(metric, value, target)`, for this script and bench/run.py."""
    return rows(measure(timeout), timeout)




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timeout", type=float, default=TIMEOUT_S)
    a = p.parse_args(argv)
    try:
        result = run(a.timeout)
    except Exception as exc:  # noqa: BLE001 - a crashed benchmark is reported, exit 1
        print(f"bench_conformance: failed: {exc}", file=sys.stderr)
        return 1
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
