"""Cluster platforms: `kind` (a kind cluster made for the run) and `kubeconfig` (an existing
cluster). `make_platform` is what platforms/base.py's factory calls; `preflight` says what this
machine lacks for them (see preflight.py). Only this package, routing/istio.py,
workloads/kubernetes.py and engines/flagger.py use the Kubernetes client.
"""

from __future__ import annotations

from pathlib import Path

from progressive.errors import UserError
from progressive.platforms.kind.preflight import preflight, require

__all__ = ["make_platform", "preflight", "require"]


def make_platform(name: str, state_dir: Path, **options):
    if name == "kind":
        from progressive.platforms.kind.platform import KindPlatform

        return KindPlatform(state_dir, **options)
    if name == "kubeconfig":
        from progressive.platforms.kind.kubeconfig import KubeconfigPlatform

        return KubeconfigPlatform(state_dir, **options)
    raise UserError(f"unknown cluster platform {name!r}; choose kind or kubeconfig")
