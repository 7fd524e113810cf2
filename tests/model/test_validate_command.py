"""`progressive validate FILE...`: output lines, exit codes, missing files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from spec_docs import BAD, SPECS, run_validate


@pytest.fixture
def run():
    return run_validate


def test_valid_canary_prints_one_ok_line(run):
    code, out, err = run(SPECS / "seed-canary.yaml")
    assert code == 0
    assert out.splitlines() == [
        f"OK    {SPECS / 'seed-canary.yaml'} (Canary jx-production/"
        "jx-production-croc-hunter-jenkinsx, canary strategy, 5 steps: 10,20,30,40,50, "
        "every 15s, threshold 5)"
    ]
    assert err == ""


def test_warnings_do_not_fail(run):
    code, out, _ = run(SPECS / "seed-virtualservice.yaml")
    assert code == 0
    ok, warn = out.splitlines()
    assert ok.startswith("OK    ") and "weights 99/0" in ok
    assert warn.startswith(f"WARN  {SPECS / 'seed-virtualservice.yaml'} (VirtualService "
                           "croc-hunter-jenkinsx): spec.http[0].route[1]: destination 2 (")
    assert warn.endswith("has no weight and will receive no traffic; did you mean 1?")


def test_all_good_fixtures_together(run):
    files = sorted(SPECS.glob("*.yaml"))
    code, out, _ = run(*files)
    assert code == 0
    assert sum(line.startswith("OK    ") for line in out.splitlines()) == len(files)
    assert out.splitlines()[-1] == f"{len(files)} files valid"


def test_problems_one_per_line_and_exit_2(run):
    code, out, err = run(BAD / "canary-many-problems.yaml")
    assert code == 2
    lines = out.splitlines()
    assert len(lines) == 5 and all(line.startswith("FAIL  ") for line in lines)
    assert "(Canary Croc_Hunter): spec.analysis.stepWeight: must be between 1 and 100, got 150" \
        in out
    assert "1 of 1 file invalid" in err


def test_multi_document_file_reports_each_document(run):
    code, out, _ = run(BAD / "multi-doc-one-bad.yaml")
    assert code == 2
    assert [line[:6] for line in out.splitlines()] == ["OK    ", "FAIL  ", "OK    "]
    assert "multi-doc-one-bad.yaml[2] (Application default/croc-hunter" in out


def test_missing_file_is_exit_2_with_a_message(run, tmp_path: Path):
    code, out, err = run(SPECS / "seed-canary.yaml", tmp_path / "nope.yaml")
    assert code == 2
    assert f"FAIL  {tmp_path / 'nope.yaml'}: no such file" in err
    assert "1 of 2 files invalid" in err
    assert out.startswith("OK    ")


def test_directory_is_exit_2(run, tmp_path: Path):
    code, _, err = run(tmp_path)
    assert code == 2 and "is a directory" in err


def test_no_file_is_a_usage_error(run):
    code, _, err = run()
    assert code == 2 and "Missing" in err


def test_the_console_script(tmp_path: Path):
    """The real `python -m progressive validate` (progressive/cli.py calls register())."""
    ok = subprocess.run([sys.executable, "-m", "progressive", "validate",
                         str(SPECS / "seed-canary.yaml")],
                        capture_output=True, text=True, timeout=120, check=False)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.startswith("OK    ")
    bad = subprocess.run([sys.executable, "-m", "progressive", "validate",
                          str(BAD / "canary-stepweight-zero.yaml"), str(tmp_path / "nope.yaml")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "spec.analysis.stepWeight: must be between 1 and 100, got 0" in bad.stdout
    assert "no such file" in bad.stderr and "2 of 2 files invalid" in bad.stderr
