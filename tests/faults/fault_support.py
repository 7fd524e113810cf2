"""Helpers of the fault tests (fixtures are in conftest.py): what a fault injector gets while
a rollout runs, killing a process, and reading the engine's events around a fault.

The observation steps are the conformance suites' own (suites/conformance_support.py) and the
engine-level tests use the engine's fakes (tests/engine/engine_fakes.py): both directories go
on sys.path here rather than being copied.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for _shared in (REPO / "suites", REPO / "tests" / "engine"):
    if str(_shared) not in sys.path:
        sys.path.insert(0, str(_shared))

from conformance_support import (  # noqa: E402, F401 - re-exported for the tests
    LOAD_RPS,
    LOAD_USERS,
    GateServer,
    Observation,
    engine_session,
    load_spec,
)

from load.timeline import WeightTimeline  # noqa: E402
from progressive.waiting import wait_until  # noqa: E402


@dataclasses.dataclass
class Run:
    """What a fault injector needs while the rollout goes on."""

    platform: object
    engine: object
    timeline: WeightTimeline
    load: object
    spec: object

    def wait_event(self, condition: Callable[[dict], bool], timeout: float, what: str,
                   since: float = 0.0) -> dict:
        """The first engine event at or after `since` that satisfies `condition`."""
        def found():
            return next((e for e in self.engine.events() if e["t"] >= since and condition(e)),
                        None)

        return wait_until(found, timeout=timeout, what=what, poll=0.05, max_poll=0.1)

    def wait_weight(self, weight: int, timeout: float | None = None) -> dict:
        bound = timeout or 4 * self.spec.analysis.interval_s * (weight // 10 + 2)
        return self.wait_event(lambda e: e["action"] == "step" and e["canaryWeight"] == weight,
                               bound, f"the step to weight {weight}")


def sigkill(pid: int) -> float:
    """SIGKILL `pid`; the unix time it was sent."""
    t = time.time()
    os.kill(pid, signal.SIGKILL)
    return t


def steps_between(events: list[dict], t0: float, t1: float) -> list[dict]:
    return [e for e in events if e["action"] == "step" and t0 <= e["t"] <= t1]
