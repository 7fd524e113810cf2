"""`progressive up | status | down` and the conformance command's refusals, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from progressive.model.types import Destination, HttpRoute, VirtualServiceSpec
from progressive.platforms.kind import preflight
from progressive.processes import recorded_processes
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

CLI_TIMEOUT_S = 60
SEED = Path(__file__).resolve().parents[2] / "fixtures" / "specs" / "seed-canary.yaml"
ROLLOUT_TIMEOUT_S = 180  # the seed at time scale 0.1: about 13 s; a loaded machine takes more
VS_ONLY = """apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  http:
  - route:
    - destination: {host: web}
"""


def progressive(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive", *args], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S)


@pytest.mark.integration
def test_a_bare_platform_serves_what_is_applied_and_down_leaves_no_process(tmp_path: Path):
    state = tmp_path / "state"
    up = progressive("up", "--state-dir", str(state), "--no-app")
    assert up.returncode == 0, up.stderr
    try:
        from progressive.platforms.local.platform import LocalPlatform

        platform = LocalPlatform.attach(state)
        platform.workloads().deploy("croc-hunter", AppVersion("v1"), replicas=2)
        answer = requests.get(platform.gateway_url, timeout=5)  # no route yet: 404 from Envoy
        assert answer.status_code == 404
        platform.router().apply_virtual_service(VirtualServiceSpec(
            "croc-hunter", "default", ("croc-hunter.example.com",),
            (HttpRoute((Destination("croc-hunter", 100),)),)))
        answer = requests.get(platform.gateway_url, timeout=5)
        assert answer.status_code == 200 and answer.headers["X-Version"] == "v1"

        def status_when_ready() -> dict | None:
            """`status --json` once it reports the workload ready (a probe may time out once
            on a loaded machine; the next status probes again)."""
            status = progressive("status", "--state-dir", str(state), "--json")
            assert status.returncode == 0, status.stderr
            info = json.loads(status.stdout)
            return info if info["workloads"]["default/croc-hunter"]["ready"] else None

        info = wait_until(status_when_ready, timeout=30, what="status to report the workload ready")
        assert info["running"] and info["gateway_url"] == platform.gateway_url
        workload = info["workloads"]["default/croc-hunter"]
        assert workload["version"] == "v1" and workload["replicas"] == 2
        pids = [r["pid"] for r in recorded_processes(state)]
        assert len(pids) >= 4  # envoy, prometheus, two replicas
    finally:
        down = progressive("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not alive, f"processes left behind: {alive}"
    assert progressive("status", "--state-dir", str(state)).returncode == 1


@pytest.mark.integration
def test_up_serves_croc_hunter_and_a_rollout_rolls_it_leaving_the_platform_up(tmp_path: Path):
    """The README's loop: up, curl, status, rollout, curl, status, down."""
    state = tmp_path / "state"
    up = progressive("up", "--state-dir", str(state), "--replicas", "2")
    assert up.returncode == 0, up.stderr
    try:
        info = json.loads((state / "platform.json").read_text())
        answer = requests.get(info["gateway_url"] + "/", timeout=5)  # no Host header: curl
        assert answer.status_code == 200 and answer.headers["X-Version"] == "v1"
        assert "serving    jx-production/jx-production-croc-hunter-jenkinsx-primary v1 (2 replicas)" in up.stdout

        status = progressive("status", "--state-dir", str(state), "--json")
        primary = json.loads(status.stdout)["workloads"]["jx-production/jx-production-croc-hunter-jenkinsx-primary"]
        assert (primary["version"], primary["replicas"], primary["ready"]) == ("v1", 2, 2), primary
        assert len(primary["ports"]) == 2
        table = progressive("status", "--state-dir", str(state)).stdout  # piped: whole names
        assert "jx-production/jx-production-croc-hunter-jenkinsx-primary" in table

        rollout = subprocess.run(
            [sys.executable, "-m", "progressive", "rollout", str(SEED), "--to", "v2",
             "--time-scale", "0.1", "--rps", "50", "--state-dir", str(state)],
            capture_output=True, text=True, timeout=ROLLOUT_TIMEOUT_S)
        assert rollout.returncode == 0, rollout.stdout + rollout.stderr
        answer = requests.get(info["gateway_url"] + "/", timeout=5)
        assert answer.headers["X-Version"] == "v2"  # the served app was rolled
        status = progressive("status", "--state-dir", str(state), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["running"]  # still up
    finally:
        down = progressive("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert progressive("status", "--state-dir", str(state)).returncode == 1


def test_up_refuses_a_bad_spec_before_anything_starts(tmp_path: Path):
    bad = tmp_path / "vs.yaml"
    bad.write_text(VS_ONLY)
    result = progressive("up", "--state-dir", str(tmp_path / "state"), "--spec", str(bad))
    assert result.returncode == 2 and "a Canary is needed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "platform.json").exists()


def test_status_of_nothing_is_not_running(tmp_path: Path):
    result = progressive("status", "--state-dir", str(tmp_path), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["running"] is False


@pytest.mark.parametrize(("args", "message"), [
    (["conformance", "--platform", "moon"], "unknown platform"),
    (["conformance", "--engine", "flagger"], "Flagger runs in a cluster"),
    (["conformance", "--time-scale", "0"], "--time-scale must be > 0"),
    pytest.param(["conformance", "--platform", "kind"], "cannot run here", marks=pytest.mark.skipif(
        not preflight("kind"), reason="kind, Docker and istioctl are all here: it would run")),
    (["rollout", "/nonexistent.yaml", "--to", "v2"], "nonexistent"),
    (["nope"], "No such command"),
])
def test_user_mistakes_exit_2_without_a_traceback(args, message):
    result = progressive(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
