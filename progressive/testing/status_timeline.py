"""The engine's reported status over a rollout, as the suites observe it from outside.

Every engine reports a status (phase, canary weight, failed checks, iterations: Flagger's
Canary `.status`, the bundled engine's state). A `StatusTimeline` polls it in a thread and
records each change, so that a test can say when the rollout entered a phase or counted a
failure without reading an engine's own event log, whose wording and granularity differ
between engines (Flagger records no event per tick, and stamps events to the second).

A change is bracketed: it happened after `not_before` (when the last poll that did not see it
was sent) and before `t` (when the first poll that saw it answered). Bounds that a test checks
use the side that cannot make a correct engine fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from progressive.engines.base import EngineStatus
from progressive.testing.timeouts import SuiteTimeouts

POLL_S = 0.1


@dataclass(frozen=True)
class StatusChange:
    not_before: float  # unix time: the change happened after this...
    t: float  # ...and before this
    phase: str
    canary_weight: int
    failed_checks: int
    iterations: int


class StatusTimeline:
    """`status()` polled every `poll_s`; errors are counted and polling goes on."""

    def __init__(self, status: Callable[[], EngineStatus], poll_s: float = POLL_S) -> None:
        self.status = status
        self.poll_s = poll_s
        self.errors = 0
        self._changes: list[StatusChange] = []
        self._last: tuple | None = None  # (phase, weight, failed, iterations) last recorded
        self._last_sent = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        sent = time.time()
        try:
            s = self.status()
        except Exception:  # noqa: BLE001 - counted, polling goes on
            self.errors += 1
            return
        answered = time.time()
        key = (s.phase, s.canary_weight, s.failed_checks, s.iterations)
        with self._lock:
            if key != self._last:
                self._changes.append(StatusChange(self._last_sent, answered, *key))
                self._last = key
            self._last_sent = sent

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.poll_s)

    def __enter__(self) -> StatusTimeline:
        self.poll_once()
        self._thread = threading.Thread(target=self._run, name="status-timeline", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SuiteTimeouts.machine_s)
        self.poll_once()  # the final status, whatever the poll period

    def changes(self) -> list[StatusChange]:
        with self._lock:
            return list(self._changes)


def failure_counts(changes: list[StatusChange]) -> list[StatusChange]:
    """The changes that raised failedChecks, in order (one per counted failure or more)."""
    out, last = [], 0
    for c in changes:
        if c.failed_checks > last:
            out.append(c)
        last = c.failed_checks
    return out


def failing_streak(counted, interval_s: float):
    """The first count of the last run of failures one tick apart, up to the rollback.
    `rollback_bound` holds when every check fails: a tick whose checks passed (the errors not
    yet in the query's window) counts nothing, and leaves a gap of two intervals or more
    between counts (1.5 intervals separates the two cases on a loaded machine)."""
    assert counted, "no failed check was counted before the rollback"
    start = len(counted) - 1
    while start > 0 and counted[start].t - counted[start - 1].not_before <= 1.5 * interval_s:
        start -= 1
    return counted[start]
