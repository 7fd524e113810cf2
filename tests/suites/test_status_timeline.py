"""The status timeline the suites judge an engine's reported status by."""

from __future__ import annotations

from progressive.engines.base import EngineStatus
from progressive.testing.status_timeline import (
    StatusChange,
    StatusTimeline,
    failing_streak,
    failure_counts,
)


def change(t: float, failed: int, phase: str = "Progressing", weight: int = 10) -> StatusChange:
    return StatusChange(t - 0.1, t, phase, weight, failed, 0)


def test_each_change_is_recorded_once_and_bracketed_by_the_polls():
    reported = iter([EngineStatus("Initialized", 0, 0, 0)] * 3 + [EngineStatus("Progressing", 0, 0, 0)]
                    + [EngineStatus("Progressing", 10, 0, 0)] * 2)
    timeline = StatusTimeline(lambda: next(reported))
    for _ in range(6):
        timeline.poll_once()
    changes = timeline.changes()
    assert [(c.phase, c.canary_weight) for c in changes] == [
        ("Initialized", 0), ("Progressing", 0), ("Progressing", 10)]
    assert all(c.not_before <= c.t for c in changes)
    assert changes[1].not_before >= changes[0].t  # after the last poll that did not see it


def test_a_failing_status_poll_is_counted_and_polling_goes_on():
    answers = iter([RuntimeError("apiserver down"), EngineStatus("Progressing", 0, 1, 0)])

    def status():
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    timeline = StatusTimeline(status)
    timeline.poll_once()
    timeline.poll_once()
    assert timeline.errors == 1 and timeline.changes()[0].failed_checks == 1


def test_failure_counts_are_the_changes_that_raised_failed_checks():
    changes = [change(1, 0), change(2, 1), change(2.5, 1, weight=20), change(3, 2),
               change(4, 2, "Failed", 0)]
    assert [c.t for c in failure_counts(changes)] == [2, 3]


def test_the_failing_streak_restarts_after_a_tick_that_counted_nothing():
    one_tick_apart = [change(10, 1), change(11, 2), change(12, 3)]
    assert failing_streak(one_tick_apart, interval_s=1.0).t == 10
    gap = [change(10, 1), change(13, 2), change(14, 3)]  # two ticks passed between 1 and 2
    assert failing_streak(gap, interval_s=1.0).t == 13
