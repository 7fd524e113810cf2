"""Real Flagger judged by the conformance suites on k8s-local (a module of its own: no other
control plane of these tests runs beside it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from k8s_local_support import tools_built

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not tools_built(), reason="the k8s-local tools are not built: "
                                 "`progressive tools install` (needs Go 1.25+)")]

FLAGGER_RUN_S = 600.0  # up, Flagger's start, one rollout of four 10 s ticks and more, down


def progressive(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_the_suites_judge_real_flagger_walking_a_canarys_steps(tmp_path):
    """`progressive conformance --platform k8s-local --engine flagger`, one rollout test: Flagger
    1.44.0, built from its module, runs as a local process against the control plane,
    initialises the Canary (primary, Services, DestinationRules, VirtualService) and walks
    the stepWeights spec under load; the report names what it ran on. The whole core suite
    against Flagger takes about 15 minutes (bench/bench_engines.py), too long for every CI run."""
    report_dir = tmp_path / "report"
    run = progressive("conformance", "--platform", "k8s-local", "--engine", "flagger",
                      "--report-dir", str(report_dir), "--no-html",
                      "-k", "test_step_weights_list_is_walked", timeout=FLAGGER_RUN_S)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = yaml.safe_load((report_dir / "conformance.yaml").read_text())
    implementation = report["implementation"]
    assert implementation["engine"] == "flagger" and implementation["platform"] == "k8s-local"
    assert implementation["versions"]["flagger"] == "1.44.0"
    assert implementation["versions"]["kubernetes"].startswith("v1.")
    (test,) = [t for p in report["profiles"] for t in p["tests"] if t["outcome"] != "skipped"]
    assert (test["name"], test["outcome"]) == ("canary-step-weights", "passed"), test
