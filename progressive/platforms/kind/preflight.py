"""Before a cluster run: is everything it needs on this machine? Name what is not, and how.

`preflight("kind")` returns one line per missing part (empty: ready). It checks the Docker
daemon first (`docker info` must exit 0; a client without a daemon is not enough), then
`kind`, `kubectl` and `istioctl` on PATH. It never downloads anything: pytest-kind would fetch
kind and kubectl by itself when given no path, so the platforms always pass the absolute paths
found here. Called by the platforms' `up()` (through `require`), by `progressive conformance`
before anything starts (exit 2), and by tests/kind to skip the cluster tests with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from progressive.errors import UserError
from progressive.platforms.kind import commands
from progressive.platforms.kind.pins import load_pins

DOCKER_INFO_TIMEOUT_S = 20.0  # a healthy daemon answers in well under a second


def install_hints() -> dict[str, str]:
    p = load_pins()
    return {
        "docker": "install Docker Engine (https://docs.docker.com/engine/install/) or Docker "
        "Desktop, start it, and make sure your user may use it (`docker info` must succeed)",
        "kind": f"kind {p.kind} or newer: `go install sigs.k8s.io/kind@{p.kind}`, or download "
        f"https://kind.sigs.k8s.io/dl/{p.kind}/kind-linux-amd64 to a directory on PATH "
        "(macOS: `brew install kind`)",
        "kubectl": f"kubectl {p.kubectl_minor}.x (the cluster runs {p.kubectl}): download "
        f"https://dl.k8s.io/release/{p.kubectl}/bin/linux/amd64/kubectl to a directory on "
        "PATH (macOS: `brew install kubectl`)",
        "istioctl": f"istioctl {p.istio}: `curl -sL https://istio.io/downloadIstio | "
        f"ISTIO_VERSION={p.istio} sh -` and put istio-{p.istio}/bin on PATH",
    }


REQUIRED = {
    "kind": ("docker", "kind", "kubectl", "istioctl"),
    "kubeconfig": ("kubectl",),  # an existing cluster: Istio is already there, no image build
}


def preflight(platform: str = "kind") -> list[str]:
    """What is missing for `platform`, one line each with how to get it."""
    hints = install_hints()
    missing: list[str] = []
    for binary in REQUIRED[platform]:
        path = shutil.which(binary)
        if path is None:
            missing.append(f"`{binary}` is not on PATH; {hints[binary]}")
        elif binary == "docker":
            problem = _docker_daemon_problem(path)
            if problem:
                missing.append(f"the Docker daemon is not reachable ({problem}); {hints['docker']}")
    return missing


def require(platform: str = "kind") -> None:
    """Raise UserError (exit 2) naming everything `preflight` found missing."""
    missing = preflight(platform)
    if missing:
        lines = "\n".join(f"  - {m}" for m in missing)
        raise UserError(f"the {platform} platform cannot run on this machine:\n{lines}")


def binary_path(name: str) -> str:
    """Absolute path of `name` on PATH (call after `require`)."""
    found = shutil.which(name)
    if found is None:
        raise UserError(f"`{name}` is not on PATH; {install_hints()[name]}")
    return os.path.abspath(found)


def _docker_daemon_problem(docker: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - argv list, no shell
            commands.docker_info(docker), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=DOCKER_INFO_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"`docker info` did not answer within {DOCKER_INFO_TIMEOUT_S:g}s"
    except OSError as exc:
        return f"`docker info` could not run: {exc}"
    if done.returncode == 0:
        return None
    first = next((ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()), "")
    return f"`docker info` exited {done.returncode}" + (f": {first}" if first else "")
