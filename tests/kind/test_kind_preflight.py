"""Preflight: what a machine lacks for a cluster run, each with how to get it."""

from __future__ import annotations

from pathlib import Path

import pytest

from progressive.errors import UserError
from progressive.platforms.kind import preflight, require
from progressive.platforms.kind.pins import load_pins

DAEMON_DOWN = ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
               "Is the docker daemon running?")


def test_everything_missing_is_named_with_a_pinned_install_hint(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory
    missing = preflight("kind")
    pins = load_pins()
    assert [m.split(" ", 1)[0] for m in missing] == ["`docker`", "`kind`", "`kubectl`",
                                                      "`istioctl`"]
    docker, kind, kubectl, istioctl = missing
    assert "docs.docker.com/engine/install" in docker
    assert pins.kind in kind and "go install sigs.k8s.io/kind@" in kind
    assert pins.kubectl in kubectl and pins.kubectl_minor in kubectl
    assert f"ISTIO_VERSION={pins.istio}" in istioctl


def test_a_docker_client_without_a_daemon_is_not_enough(fake_bins):
    fake_bins.answer("docker info", rc=1, stderr=DAEMON_DOWN + "\n")
    assert preflight("kind") == [
        f"the Docker daemon is not reachable (`docker info` exited 1: {DAEMON_DOWN}); install "
        "Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, start it, "
        "and make sure your user may use it (`docker info` must succeed)"]


def test_a_ready_machine_has_nothing_missing(fake_bins):
    assert preflight("kind") == []
    assert fake_bins.calls() == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_an_existing_cluster_needs_only_kubectl(fake_bins, monkeypatch):
    for name in ("docker", "kind", "istioctl"):
        (fake_bins.dir / name).unlink()
    assert preflight("kubeconfig") == []
    assert len(preflight("kind")) == 3
    assert fake_bins.calls() == []  # no docker, so no `docker info`


def test_require_stops_with_every_problem_and_exit_code_2(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError) as stopped:
        require("kind")
    assert stopped.value.exit_code == 2
    text = str(stopped.value)
    assert text.startswith("the kind platform cannot run on this machine:")
    assert text.count("\n  - ") == 4
