"""bench/run.py: one fresh interpreter per benchmark, one markdown table, failures reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "bench" / "run.py"

BENCHES = {
    "bench_a_poison.py": """
import os
def run():
    print("noise on stdout")
    os.environ["BENCH_POISON"] = "1"      # would reach the next benchmark in one process
    return [("poisoned", "yes", "-"), ("a | b", "1", ">= 1")]
""",
    "bench_b_clean.py": """
import os
def run():
    if os.environ.get("BENCH_POISON"):
        raise RuntimeError("saw the previous benchmark's state")
    return [("clean", "yes", "yes")]
if __name__ == "__main__":
    raise SystemExit("the script block must not run under the runner")
""",
    "bench_c_crash.py": """
def run():
    raise RuntimeError("the app died during the benchmark")
""",
    "bench_d_exit.py": """
import os
def run():
    os._exit(3)
""",
    "bench_e_hang.py": """
import time
def run():
    time.sleep(120)
""",
}


def run_bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir(exist_ok=True)
    for name, text in BENCHES.items():
        (bench_dir / name).write_text(text)
    out = tmp_path / "out" / "results.md"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--bench-dir", str(bench_dir), "--out", str(out),
         "--timeout", "5", *args],
        capture_output=True, text=True, timeout=120, check=False)
    return proc, out


def test_each_benchmark_runs_alone_and_failures_are_reported(tmp_path: Path):
    proc, out = run_bench(tmp_path)
    assert proc.returncode == 1  # three benchmarks failed
    table = proc.stdout
    assert out.read_text().strip() == table.strip()
    sections = [line for line in table.splitlines() if line.startswith("## ")]
    assert sections == ["## bench_a_poison", "## bench_b_clean", "## bench_c_crash",
                        "## bench_d_exit", "## bench_e_hang"]
    assert "| a \\| b | 1 | >= 1 |" in table
    assert "| clean | yes | yes |" in table
    assert "**failed**: RuntimeError: the app died during the benchmark" in table
    assert "**failed**: exit 3 and no rows" in table
    assert "**failed**: did not finish within 5 s" in table
    assert "noise on stdout" in proc.stderr and "noise" not in table
    assert "script block" not in table + proc.stderr


def test_only_one(tmp_path: Path):
    proc, _ = run_bench(tmp_path, "--only", "b_clean")
    assert proc.returncode == 0, proc.stderr
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("## ")] == ["## bench_b_clean"]


def test_only_an_unknown_name(tmp_path: Path):
    proc, out = run_bench(tmp_path, "--only", "nope")
    assert proc.returncode != 0
    assert "no benchmark named 'nope'" in proc.stderr and "bench_a_poison" in proc.stderr
    assert not out.exists()


@pytest.mark.integration
def test_the_app_benchmark_through_the_runner(tmp_path: Path):
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, str(RUNNER), "--only", "app", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "## bench_app" in out.read_text()
    assert "| app throughput, GET / (64 connections, 5 s) |" in out.read_text()
