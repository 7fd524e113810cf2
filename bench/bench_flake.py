"""Flake budget: run the conformance suites N times in a row and say how many runs failed, and why.

    python bench/bench_flake.py --runs 20        the bar: 20 runs, zero failures
    from bench.bench_flake import run            rows for bench/run.py (N from the environment)

Each run is `python -m progressive conformance --report-dir R --no-html` as a user runs it
(its default workers: tests at once on one shared platform), in its own session and temp dir,
one after the other. A run fails when it exits non-zero or its report is missing; the reason is each failed test's name and the reason line from the conformance report
(pytest's last output lines when there is no report). `run()` does PROGRESSIVE_FLAKE_RUNS runs
(default 2: `make bench` runs every benchmark) and the CLI `--runs` (default 20); a run that
passes its PROGRESSIVE_FLAKE_TIMEOUT_S (default 900 s) is stopped and counted as failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RUNS_ENV, TIMEOUT_ENV = "PROGRESSIVE_FLAKE_RUNS", "PROGRESSIVE_FLAKE_TIMEOUT_S"
DEFAULT_RUNS, CLI_RUNS, DEFAULT_TIMEOUT_S = 2, 20, 900.0
TARGET_RUN_S = 75.0  # issue 14: a conformance run in at most 75 s on 2 cores
INTERRUPT_GRACE_S = 60.0  # pytest's teardown after SIGINT (stops the platform)

Row = tuple[str, str, str]


@dataclass
class RunResult:
    index: int
    exit_code: int | None  # None: stopped at the timeout
    seconds: float
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test, reason)
    passed: int = 0

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or bool(self.failures)


def one_run(index: int, timeout_s: float) -> RunResult:
    """One conformance run; the failed tests and their reasons."""
    with tempfile.TemporaryDirectory(prefix="flake-") as tmp:
        report = Path(tmp) / "conformance.yaml"
        argv = [sys.executable, "-m", "progressive", "conformance", "--report-dir", tmp,
                "--no-html"]
        log = Path(tmp) / "pytest.log"
        started = time.monotonic()
        with open(log, "w") as out:
            proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                    start_new_session=True)
            code = _wait(proc, timeout_s)
        result = RunResult(index, code, time.monotonic() - started)
        if report.exists():
            doc = yaml.safe_load(report.read_text())
            for test in (t for p in doc.get("profiles", []) for t in p.get("tests", [])):
                if test["outcome"] == "failed":
                    result.failures.append((test["name"], _one_line(test.get("reason", ""))))
                result.passed += test["outcome"] == "passed"
        if result.failed and not result.failures:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            why = "timed out" if code is None else f"pytest exit {code}"
            result.failures.append(("(run)", f"{why}, no failed test in the report: {tail}"))
        return result


def _wait(proc: subprocess.Popen, timeout_s: float) -> int | None:
    """Wait for pytest; past the timeout (or on Ctrl-C) interrupt it so its teardown runs."""
    try:
        return proc.wait(timeout=timeout_s)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def measure(runs: int, timeout_s: float, say=print) -> list[RunResult]:
    results = []
    for i in range(1, runs + 1):
        r = one_run(i, timeout_s)
        results.append(r)
        verdict = "FAILED" if r.failed else "passed"
        say(f"run {i}/{runs}: {verdict} in {r.seconds:.0f} s ({r.passed} tests passed)")
        for name, reason in r.failures:
            say(f"    {name}: {reason}")
    return results


def rows(results: list[RunResult]) -> list[Row]:
    failed = [r for r in results if r.failed]
    out: list[Row] = [
        ("conformance runs in a row", str(len(results)), f">= {CLI_RUNS} for the bar"),
        ("failed runs", f"{len(failed)} of {len(results)}", "0"),
        ("run time", f"mean {statistics.mean(r.seconds for r in results):.0f} s, max "
                     f"{max(r.seconds for r in results):.0f} s", f"<= {TARGET_RUN_S:.0f} s"),
    ]
    by_test = Counter(name for r in failed for name, _ in r.failures)
    for name, count in by_test.most_common():
        last = next(reason for r in reversed(failed) for n, reason in r.failures if n == name)
        out.append((f"failed: {name}", f"{count} run(s); last: {last}", "0"))
    return out


def run() -> list[Row]:
    """Rows for bench/run.py: PROGRESSIVE_FLAKE_RUNS runs (default 2), each bounded."""
    runs = int(os.environ.get(RUNS_ENV, DEFAULT_RUNS))
    timeout_s = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    return rows(measure(runs, timeout_s, say=lambda s: print(s, file=sys.stderr, flush=True)))


def table(rows_: list[Row]) -> str:
    lines = ["| metric | value | target |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {t} |" for m, v, t in rows_]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=CLI_RUNS, help=f"default {CLI_RUNS}")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds one run may take before it is stopped and counted failed")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    results = measure(args.runs, args.timeout)
    print(table(rows(results)))
    failed = sum(r.failed for r in results)
    print(f"\n{failed} of {len(results)} runs failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
