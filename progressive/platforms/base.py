"""The Platform seam and the factory that picks one by name (an unknown name is an error)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from progressive.errors import UserError
from progressive.metrics.base import MetricsProvider
from progressive.routing.base import Router
from progressive.workloads.base import Workloads

# Features a platform can offer; the suites declare which they need (see pytest_plugin.py).
ALL_FEATURES = frozenset(
    {
        "canary",
        "stepWeights",
        "blue-green",
        "shipper",
        "ab-testing",
        "mirroring",
        "header-routing",
        "fixed-split",
        "webhooks",
        "metrics-istio",
        "sub-10s-interval",
        "time-scale",
        "fault-injection",
    }
)


class Platform(Protocol):
    name: str
    namespace: str

    def up(self) -> None: ...

    def wait_for_metrics(self) -> None:
        """Return once Prometheus scrapes the mesh: a check before that sees no data."""

    def down(self) -> None: ...

    def clear_metrics(self, namespace: str) -> None:
        """Delete the metrics recorded so far for `namespace`: a run on a platform that outlives
        runs must never be judged on an earlier run's samples."""

    def router(self) -> Router: ...

    def metrics(self) -> MetricsProvider: ...

    def workloads(self, namespace: str | None = None) -> Workloads: ...

    @property
    def gateway_url(self) -> str: ...

    @property
    def prometheus_url(self) -> str: ...

    @property
    def features(self) -> frozenset[str]: ...

    def versions(self) -> dict[str, str]: ...

    def collect_diagnostics(self, dest: Path) -> list[Path]: ...


PLATFORMS = ("local", "kind", "kubeconfig")


def make_platform(name: str, state_dir: Path, **options) -> Platform:
    if name == "local":
        from progressive.platforms.local.platform import LocalPlatform

        return LocalPlatform(state_dir, **options)
    if name in ("kind", "kubeconfig"):
        from progressive.platforms import kind

        factory = getattr(kind, "make_platform", None)
        if factory is None:
            raise UserError(f"platform {name!r} is not available in this build")
        return factory(name, state_dir, **options)
    raise UserError(f"unknown platform {name!r}; choose one of: {', '.join(PLATFORMS)}")
