"""The controller's tick schedule: a fixed rate, and ticks missed by a long one are dropped."""

from __future__ import annotations

import pytest

from progressive.engine.loop import next_tick_at


def test_a_tick_within_its_interval_keeps_the_fixed_rate():
    assert next_tick_at(10.0, 10.4, 1.5) == 11.5
    assert next_tick_at(10.0, 11.5, 1.5) == 11.5  # ended right on the next slot: runs now


@pytest.mark.parametrize(("now", "expected"), [(11.6, 13.0), (13.0, 13.0), (13.1, 14.5)])
def test_slots_a_long_tick_ran_past_are_dropped_not_run_back_to_back(now, expected):
    # A promotion tick that waited for the primary's replicas: the next tick runs on the grid
    # after it ended, so the weight it sets is held a whole interval before the one after.
    following = next_tick_at(10.0, now, 1.5)
    assert following == pytest.approx(expected)
    assert next_tick_at(following, following + 0.1, 1.5) - following == pytest.approx(1.5)
