"""The Workload seam: deploy, scale and watch the readiness of named workloads.

Locally a workload is N Croc Hunter processes (`platforms/local/workloads.py`); in a cluster it
is a Deployment (`workloads/kubernetes.py`). Names follow SEMANTICS.md §3
(`croc-hunter-primary`, `croc-hunter-canary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Readiness:
    ready: bool
    retriable: bool = True  # False: failed for good (e.g. progress deadline passed)
    reason: str = ""


@dataclass(frozen=True)
class AppVersion:
    """What a workload runs: Croc Hunter's release and its fault knobs."""

    version: str
    commit: str = "unknown"
    error_rate: float = 0.0
    latency_ms: float = 0.0
    crash_after: int = 0  # 0 = never
    never_ready: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def spec_hash(self) -> str:
        import hashlib
        import json

        body = json.dumps(
            {
                "version": self.version,
                "commit": self.commit,
                "error_rate": self.error_rate,
                "latency_ms": self.latency_ms,
                "crash_after": self.crash_after,
                "never_ready": self.never_ready,
                "env": dict(sorted(self.env.items())),
            },
            sort_keys=True,
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]


class Workloads(Protocol):
    def deploy(self, name: str, app: AppVersion, replicas: int | None = None) -> None:
        """Run `app` under `name` (replace what runs); keep the replica count unless given."""

    def scale(self, name: str, replicas: int) -> None: ...

    def is_ready(self, name: str) -> Readiness: ...

    def spec_hash(self, name: str) -> str | None:
        """Hash of what `name` runs (None when it does not exist)."""

    def app(self, name: str) -> AppVersion | None:
        """What `name` runs (None when it does not exist)."""

    def replicas(self, name: str) -> int: ...

    def stop_all(self) -> None:
        """Remove every workload this project made in the namespace (a test's cleanup)."""

    def endpoints(self, name: str) -> list[tuple[str, int]]:
        """(host, port) of each replica of `name`, as the harness can dial it. Only a platform
        whose features include "workload-endpoints" promises that these are reachable."""
