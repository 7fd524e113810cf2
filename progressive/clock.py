"""Injected clocks: the engine never calls time.time() or time.sleep() itself.

`RealClock` is the wall clock. `FakeClock` is virtual time for unit tests: `sleep()` advances
`now()` at once, so a test steps the engine through minutes of spec time in zero wall time.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0):
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)
