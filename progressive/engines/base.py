"""The EngineUnderTest seam: what a conformance suite may ask of a rollout engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from progressive.model.types import ApplicationSpec, CanarySpec
from progressive.workloads.base import AppVersion

if TYPE_CHECKING:
    from progressive.engine.shipper import ShipperRelease

FINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class EngineStatus:
    phase: str
    canary_weight: int
    failed_checks: int
    iterations: int

    @property
    def done(self) -> bool:
        return self.phase in FINAL_PHASES


class EngineUnderTest(Protocol):
    name: str
    spec: CanarySpec | None  # as the engine runs it (time-scaled), once apply() was called

    def apply(self, spec: CanarySpec, initial: AppVersion) -> None:
        """Deploy the target at `initial`, create the canary and wait until it is Initialized."""

    def trigger(self, app: AppVersion) -> None:
        """Deploy a new revision of the target: the engine must detect and roll it out."""

    def status(self) -> EngineStatus: ...

    def events(self) -> list[dict]: ...

    def wait_done(self, timeout: float) -> EngineStatus:
        """Wait (bounded) until the rollout ends in Succeeded or Failed."""

    def unsupported_features(self) -> frozenset[str]: ...

    def close(self) -> None: ...


@runtime_checkable
class ReleasingEngine(EngineUnderTest, Protocol):
    """An engine that also runs Shipper-style releases (feature "shipper")."""

    def release(self, app: ApplicationSpec, incumbent: AppVersion, contender: AppVersion,
                ready_timeout_s: float = 30.0) -> ShipperRelease:
        """Start a release: the incumbent serving, the contender at zero; the caller moves it."""
