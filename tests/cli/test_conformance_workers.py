"""`progressive conformance --workers`: how many tests share the platform at once, and where
sharing is refused (checked before anything starts)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from progressive.commands.conformance import MAX_WORKERS, default_workers


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 4), (4, MAX_WORKERS), (64, MAX_WORKERS)])
def test_the_default_fits_the_rollouts_to_the_cores(cores, workers):
    assert default_workers(cores) == workers


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (4, MAX_WORKERS)])
def test_k8s_local_leaves_room_for_its_control_plane(cores, workers):
    assert default_workers(cores, platform="k8s-local") == workers


def test_workers_share_only_a_local_or_k8s_local_platform(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "progressive", "conformance", "--platform",
                           "kubeconfig", "--workers", "2", "--report-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "share one platform only on local and k8s-local" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "conformance.yaml").exists()
