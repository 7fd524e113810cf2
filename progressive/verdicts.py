"""What a CLI rollout ended with, and the one-line verdict `progressive rollout` prints.

Built by progressive/rollout.py; rendered by progressive/commands/rollout.py; read by the
benchmarks. `promoted` / `reached` decide the exit code (0, else 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from progressive.engine import Phase
from progressive.load.rollout_load import Traffic
from progressive.model.types import ApplicationSpec, CanarySpec


@dataclass
class CanaryResult:
    spec: CanarySpec  # as run (time-scaled)
    phase: str  # Succeeded, Failed, or the idle phase when there was nothing to roll out
    to_version: str
    primary_version: str  # what the primary served before the new revision
    duration_s: float  # new revision on the target -> the run's last tick
    ticks: int  # from the tick that detected the new revision
    failed_checks: int
    events: list[dict]
    traffic: Traffic | None
    triggered_at: float = 0.0
    nothing_to_do: bool = False

    @property
    def promoted(self) -> bool:
        return self.phase == Phase.SUCCEEDED.value or self.nothing_to_do

    @property
    def verdict(self) -> str:
        target, load = self.spec.target, self.traffic
        if self.nothing_to_do:
            return f"nothing to roll out: {self.spec.primary_name} already serves {self.to_version}"
        if self.promoted:
            extra = f", {load.requests:,} requests, {load.failed:,} failed" if load else ""
            return (f"promoted {target} to {self.to_version} in {self.duration_s:.1f} s "
                    f"({self.ticks} ticks, {self.failed_checks} failed checks{extra})")
        failed = [e for e in self.events if e["action"] == "check_failed"]
        rollback = [e for e in self.events if e["action"] == "rollback"]
        if failed:
            why = (f"{self.to_version} failed {self.failed_checks} checks "
                   f"({failed[-1]['message']})")
        elif rollback:
            why = f"{self.to_version}: {rollback[-1]['message'].removeprefix('rolling back: ')}"
        else:
            why = f"{self.to_version} ended {self.phase}"
        serving = f"primary kept serving {self.primary_version}"
        if load:
            serving += f" ({load.failed_not_new:,} failed requests)"
        return f"rolled back {target}: {why} in {self.duration_s:.1f} s; {serving}"


@dataclass
class ReleaseResult:
    app: ApplicationSpec  # as run (time-scaled)
    to_version: str
    reached: bool
    achieved_step: int | None
    duration_s: float
    error: str
    events: list[dict]
    traffic: Traffic | None

    @property
    def verdict(self) -> str:
        load = self.traffic
        extra = f" ({load.requests:,} requests, {load.failed:,} failed)" if load else ""
        if self.reached:
            last = self.app.steps[-1].name
            return (f"released {self.app.name} {self.to_version}: step {len(self.app.steps) - 1} "
                    f"({last}) reached in {self.duration_s:.1f} s{extra}")
        return (f"release of {self.app.name} {self.to_version} failed: {self.error}; rolled back "
                f"to step 0 ({self.app.steps[0].name}) in {self.duration_s:.1f} s{extra}")
