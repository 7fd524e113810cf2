"""A small real Allure run for the report tests.

`allure_run` runs pytest in a subprocess on a tiny conformance file with --alluredir and
--conformance-report, so the results, the attachments and conformance.yaml are what the
allure-pytest plugin and the `progressive` plugin really write (one test attaches the rollout
plots, one fails a share check after attaching its split plot, one needs a feature the run exempts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INNER_TESTS = '''
import pytest
from progressive.preview import DestinationShare
from progressive.reports.plots import attach_rollout_plots, attach_split_plot
from rollout_data import rollout

@pytest.mark.conformance("canary-stepping", "weights walk the spec's steps", features=["canary"])
def test_stepping():
    steps, records = rollout([0, 10, 20, 50, 100])
    attach_rollout_plots(steps, records, "v2")

@pytest.mark.conformance("preview-split", "the 99/1 route sends 1% to the preview",
                         features=["header-routing"])
def test_preview():
    attach_split_plot([DestinationShare("croc-hunter-jenkinsx.jx-staging", "pr-1", 1, 0.01, 82,
                                        2643, (12, 44), (0.025, 0.038)),
                       DestinationShare("croc-hunter-jenkinsx.jx-production", "v1", 99, 0.99,
                                        2561, 2643, (2599, 2631), (0.962, 0.975))])
    assert False, "preview share 3.1% outside the acceptance interval [0.75%, 1.26%]"

@pytest.mark.conformance("mirroring", "mirrored traffic reaches the canary", features=["mirroring"],
                         profile="extended")
def test_mirroring():
    pass
'''


@dataclass(frozen=True)
class AllureRun:
    report_dir: Path
    results: Path
    conformance: Path


@pytest.fixture(scope="session")
def allure_run(tmp_path_factory: pytest.TempPathFactory) -> AllureRun:
    work = tmp_path_factory.mktemp("allure-run")
    (work / "test_inner.py").write_text(INNER_TESTS)
    report_dir = work / "out"
    run = AllureRun(report_dir, report_dir / "allure-results", report_dir / "conformance.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "test_inner.py", "-q", "-p", "no:cacheprovider",
         f"--alluredir={run.results}", f"--conformance-report={run.conformance}",
         "--exempt-features=mirroring"],
        cwd=work, env={**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one test fails by design
    assert "1 failed, 1 passed, 1 skipped" in proc.stdout, proc.stdout
    return run
