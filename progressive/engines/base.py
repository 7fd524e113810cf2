"""The EngineUnderTest seam: what a conformance suite may ask of a rollout engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from progressive.model.types import CanarySpec
from progressive.workloads.base import AppVersion

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
