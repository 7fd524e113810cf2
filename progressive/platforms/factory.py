"""Pick a platform by name (an unknown name is an error, never a fallback).

Apart from platforms/base.py so that the Protocol a platform implements does not import every
platform: local/ and kind/ stay independent of each other (import-linter holds them to it).
"""

from __future__ import annotations

from pathlib import Path

from progressive.errors import UserError
from progressive.platforms.base import Platform

PLATFORMS = ("local", "k8s-local", "kind", "kubeconfig")


def platform_features(name: str) -> frozenset[str]:
    """The features of platform `name`, without starting it (the plugin gates on them)."""
    if name == "local":
        from progressive.platforms.local.platform import LocalPlatform

        return LocalPlatform.FEATURES
    if name in ("kind", "kubeconfig"):
        from progressive.platforms.kind.cluster import ClusterPlatform

        return ClusterPlatform.FEATURES
    if name == "k8s-local":
        from progressive.platforms.k8s_local.platform import K8sLocalPlatform

        return K8sLocalPlatform.FEATURES
    raise UserError(f"unknown platform {name!r}; choose one of: {', '.join(PLATFORMS)}")


def make_platform(name: str, state_dir: Path, **options) -> Platform:
    if name == "local":
        from progressive.platforms.local.platform import LocalPlatform

        return LocalPlatform(state_dir, **options)
    if name in ("kind", "kubeconfig"):
        from progressive.platforms import kind

        return kind.make_platform(name, state_dir, **options)
    if name == "k8s-local":
        from progressive.platforms.k8s_local.platform import K8sLocalPlatform

        return K8sLocalPlatform(state_dir, **options)
    raise UserError(f"unknown platform {name!r}; choose one of: {', '.join(PLATFORMS)}")
