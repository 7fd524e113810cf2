"""The weight timeline: poll the router's live weights, then join them with the request records.

    with WeightTimeline(lambda: router.get_routes(canary)) as timeline:
        with traffic(gateway_url, rps=200) as run:
            ...                                  # the engine steps the weights
    for step in join(timeline, run.records, canary_version="v2"):
        assert step.consistent, step

Suites use it for SEMANTICS.md §12: for every weight the router held, the traffic seen on the
wire while it held must be consistent with it (an exact binomial test per step,
progressive.stats.acceptance_interval), and `observed_sequence` gives the weights in the order
the router showed them. Records and timeline share one clock: unix time (`time.time`).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from progressive.load.recording import Records
from progressive.stats import DEFAULT_ALPHA, acceptance_interval

POLL_INTERVAL_S = 0.05


@dataclass
class WeightStep:
    """Weights seen by consecutive polls, from the first poll that saw them to the last."""

    primary: int
    canary: int
    first_seen: float
    last_seen: float


def _weights(value) -> tuple[int, int]:
    """(primary, canary) from a tuple (primary, canary[, mirrored]) or a routing.base.Routes."""
    if hasattr(value, "canary_weight"):
        return int(value.primary_weight), int(value.canary_weight)
    return int(value[0]), int(value[1])


class WeightTimeline:
    """Calls `get_weights()` every `interval_s` in a thread and records each change.

    `get_weights` returns (primary, canary), optionally with more items after them, or an object
    with `primary_weight` and `canary_weight` (Router.get_routes). Errors from it are counted
    in `errors` (last one in `last_error`) and do not stop the polling.
    """

    def __init__(
        self,
        get_weights: Callable[[], object],
        interval_s: float = POLL_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.get_weights = get_weights
        self.interval_s = interval_s
        self.clock = clock
        self.errors = 0
        self.last_error: BaseException | None = None
        self._steps: list[WeightStep] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """One poll. The weights were live at some moment of the call, so a step is stamped
        conservatively: first seen when the first poll that saw it returned, last seen when the
        last poll that saw it began. A slow poll then never stretches a step over the next."""
        sent = self.clock()
        try:
            primary, canary = _weights(self.get_weights())
        except Exception as exc:  # noqa: BLE001 - counted, polling goes on
            self.errors += 1
            self.last_error = exc
            return
        answered = self.clock()
        with self._lock:
            last = self._steps[-1] if self._steps else None
            if last is not None and (last.primary, last.canary) == (primary, canary):
                last.last_seen = max(sent, last.first_seen)
            else:
                self._steps.append(WeightStep(primary, canary, answered, answered))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval_s)

    def start(self) -> WeightTimeline:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="weight-timeline", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 10 * self.interval_s))
            self._thread = None

    def __enter__(self) -> WeightTimeline:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def steps(self) -> list[WeightStep]:
        with self._lock:
            return [WeightStep(s.primary, s.canary, s.first_seen, s.last_seen) for s in self._steps]


def observed_sequence(timeline: WeightTimeline | list[WeightStep]) -> list[int]:
    """The canary weights in the order seen, consecutive repeats collapsed."""
    steps = timeline.steps if isinstance(timeline, WeightTimeline) else timeline
    out: list[int] = []
    for step in steps:
        if not out or out[-1] != step.canary:
            out.append(step.canary)
    return out


@dataclass(frozen=True)
class StepShare:
    """Traffic observed while one weight step held, and whether it is consistent with it.

    `n` counts requests answered by some version in the window (records with no version, e.g.
    connection errors, are in `unanswered`), `k` those answered by the canary version;
    `interval` is the acceptance interval for `k` under Binomial(n, expected_share) with
    two-sided false-alarm probability `alpha`.
    """

    primary_weight: int
    canary_weight: int
    t0: float
    t1: float
    n: int
    k: int
    unanswered: int
    expected_share: float
    interval: tuple[int, int]
    alpha: float

    @property
    def share(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def consistent(self) -> bool:
        return self.interval[0] <= self.k <= self.interval[1]


def join(
    timeline: WeightTimeline | list[WeightStep],
    records: Records,
    canary_version: str,
    guard_s: float = 0.05,
    alpha: float = DEFAULT_ALPHA,
) -> list[StepShare]:
    """Per weight step, the share of requests answered by `canary_version` and its verdict.

    A step's window is [first_seen + guard_s, last_seen - guard_s]: the weights were live at
    every poll in between, and the guard absorbs the propagation from what `get_weights` reads
    to the data plane's workers. Only requests that started and completed inside the window
    count (start = completion - latency). A step shorter than two guards has n = 0.
    """
    steps = timeline.steps if isinstance(timeline, WeightTimeline) else timeline
    if any(a > b for a, b in zip(records.t, records.t[1:], strict=False)):
        records = records.sorted_by_time()
    out = []
    for step in steps:
        t0, t1 = step.first_seen + guard_s, step.last_seen - guard_s
        n = k = unanswered = 0
        if t1 > t0:
            lo = bisect.bisect_left(records.t, t0)
            hi = bisect.bisect_right(records.t, t1)
            for i in range(lo, hi):
                if records.t[i] - records.latency_ms[i] / 1000.0 < t0:
                    continue
                version = records.version[i]
                if not version:
                    unanswered += 1
                    continue
                n += 1
                k += version == canary_version
        total = step.primary + step.canary
        p = step.canary / total if total > 0 else 0.0
        out.append(StepShare(
            primary_weight=step.primary, canary_weight=step.canary, t0=t0, t1=t1, n=n, k=k,
            unanswered=unanswered, expected_share=p, interval=acceptance_interval(n, p, alpha),
            alpha=alpha,
        ))
    return out
