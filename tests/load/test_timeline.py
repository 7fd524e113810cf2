"""The weight timeline and its join with request records (no processes: synthetic data)."""

from __future__ import annotations

import itertools
import threading

from progressive.load.recording import Records
from progressive.load.timeline import WeightStep, WeightTimeline, join, observed_sequence
from progressive.routing.base import Routes
from progressive.waiting import wait_until

STEPS = [
    WeightStep(primary=100, canary=0, first_seen=0.0, last_seen=10.0),
    WeightStep(primary=90, canary=10, first_seen=10.05, last_seen=20.0),
    WeightStep(primary=50, canary=50, first_seen=20.05, last_seen=30.0),
    WeightStep(primary=0, canary=100, first_seen=30.05, last_seen=30.08),  # shorter than 2 guards
]


def _records() -> Records:
    """1000 requests well inside each of the first three steps with exactly the step's share
    answered by v2, plus requests a correct join must leave out."""
    rows = []
    for step in STEPS[:3]:
        k = step.canary * 10
        for i in range(1000):
            t = step.first_seen + 0.1 + i * (step.last_seen - step.first_seen - 0.2) / 1000
            rows.append((t, "v2" if i < k else "v1", 200, 1.0))
    rows += [(9.97, "v2", 200, 1.0)] * 50  # inside step 1's end guard
    rows += [(10.02, "v2", 200, 1.0)] * 50  # between two polls: either weight may hold
    rows += [(0.2, "v2", 200, 200.0)] * 50  # completed in step 1 but started before its window
    rows += [(25.0, "", 0, 1.0)] * 7  # connection errors: answered by no version
    return Records.from_rows(sorted(rows))


def test_each_step_gets_its_share_and_a_verdict():
    shares = join(STEPS, _records(), canary_version="v2", guard_s=0.05, alpha=1e-4)
    assert [(s.canary_weight, s.n, s.k) for s in shares] == [
        (0, 1000, 0), (10, 1000, 100), (50, 1000, 500), (100, 0, 0)]
    assert all(s.consistent for s in shares)
    assert [s.expected_share for s in shares] == [0.0, 0.1, 0.5, 1.0]
    assert shares[2].unanswered == 7 and shares[2].share == 0.5
    assert shares[0].interval == (0, 0)  # weight 0: a single canary answer is a failure
    lo, hi = shares[1].interval
    assert lo < 100 < hi and (lo, hi) != (0, 1000)
    assert (shares[1].t0, shares[1].t1) == (10.05 + 0.05, 20.0 - 0.05)


def test_traffic_that_does_not_match_the_weights_is_inconsistent():
    shares = join(STEPS, _records(), canary_version="v1")  # as if primary and canary swapped
    assert [s.consistent for s in shares[:3]] == [False, False, True]  # 50/50 is symmetric


def test_unsorted_records_are_joined_the_same():
    records = _records()
    reversed_records = Records.from_rows(reversed(list(records)))
    assert join(STEPS, reversed_records, "v2") == join(STEPS, records, "v2")


def test_polls_record_changes_with_first_and_last_seen_times():
    answers = iter([(100, 0), (100, 0, False), (90, 10), RuntimeError("admin down"),
                    (90, 10), Routes(primary_weight=50, canary_weight=50)])

    def get_weights():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = itertools.count(1.0)  # each poll reads it when sent and, unless it failed, answered
    timeline = WeightTimeline(get_weights, clock=lambda: next(clock))
    for _ in range(6):
        timeline.poll_once()
    # first seen: when the first poll answered; last seen: when the last poll was sent
    assert timeline.steps == [
        WeightStep(100, 0, 2.0, 3.0), WeightStep(90, 10, 6.0, 8.0), WeightStep(50, 50, 11.0, 11.0)]
    assert timeline.errors == 1 and "admin down" in str(timeline.last_error)
    assert observed_sequence(timeline) == [0, 10, 50]


def test_observed_sequence_collapses_repeats():
    steps = [WeightStep(100, 0, 0, 1), WeightStep(99, 0, 2, 3), WeightStep(90, 10, 4, 5)]
    assert observed_sequence(steps) == [0, 10]


def test_the_poller_thread_sees_a_change_and_stops():
    live = {"weights": (100, 0)}
    with WeightTimeline(lambda: live["weights"], interval_s=0.01) as timeline:
        wait_until(lambda: timeline.steps, timeout=5, what="the first poll")
        live["weights"] = (80, 20)
        wait_until(lambda: len(timeline.steps) == 2, timeout=5, what="the change to be seen")
    assert observed_sequence(timeline) == [0, 20]
    assert not [t for t in threading.enumerate() if t.name == "weight-timeline"]
