"""A failed rollout test carries its plots: a pytest run of a team's test that expects a
promotion, on the real local platform, of a release that the Canary rolls back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from progressive.reports.plots import ROLLOUT_PLOTS

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300  # platform up, a rollback at time scale 0.1 (about 10 s), teardown
TEAM_TEST = '''
from progressive.testing import assert_promoted, release

def test_expects_a_promotion(rollout):
    obs = rollout("canary.yaml", to=release("v3", error_rate=0.3))
    assert_promoted(obs)
'''


@pytest.mark.integration
def test_a_failed_rollout_test_attaches_its_plots(tmp_path: Path):
    shutil.copy(REPO / "examples" / "team-repo" / "canary.yaml", tmp_path / "canary.yaml")
    (tmp_path / "test_team.py").write_text(TEAM_TEST)
    results = tmp_path / "allure-results"
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_team.py", "-q",
                           "-p", "no:cacheprovider", f"--alluredir={results}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"})
    assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout + proc.stderr
    (result,) = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert result["status"] == "failed"
    pngs = {a["name"]: results / a["source"] for a in result.get("attachments", [])
            if a["type"] == "image/png"}
    assert set(pngs) == set(ROLLOUT_PLOTS), result.get("attachments")
    assert all(p.stat().st_size > 10_000 for p in pngs.values())
