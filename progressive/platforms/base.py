"""The Platform seam and the features a platform can offer (the factory is in factory.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from progressive.engine.state import StateStore
from progressive.metrics.base import MetricsProvider
from progressive.model.types import CanarySpec, VirtualServiceSpec
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
        "workload-endpoints",  # Workloads.endpoints() are addresses the harness can dial
    }
)


class Platform(Protocol):
    name: str
    namespace: str
    FEATURES: frozenset[str]  # what the suites may use on it; known before it starts

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

    def gateway_host(self, spec: CanarySpec | VirtualServiceSpec) -> str | None:
        """Host header that reaches `spec`'s route through the gateway (None: any host)."""

    def state_store(self) -> StateStore:
        """Where the bundled engine keeps a canary's state (so a restarted engine resumes)."""

    def versions(self) -> dict[str, str]: ...

    def collect_diagnostics(self, dest: Path) -> list[Path]: ...
