"""Load shapes as schedules (no Locust import: it would patch this process with gevent)."""

from __future__ import annotations

import pytest

from progressive.load.shapes import ConstantShape, SpikeShape, StepShape, shape_from_env, tick


def test_constant_holds_its_users():
    assert [ConstantShape(7).users_at(t) for t in (0, 5, 500)] == [7, 7, 7]


def test_step_adds_users_every_step_up_to_the_cap():
    shape = StepShape(step_users=5, step_s=2, users=12)
    assert [shape.users_at(t) for t in (0, 1.9, 2, 4, 6, 100)] == [5, 5, 10, 12, 12, 12]


def test_spike_lasts_its_window_only():
    shape = SpikeShape(users=10, spike_users=30, at_s=5, spike_s=2)
    assert [shape.users_at(t) for t in (0, 4.9, 5, 6.9, 7)] == [10, 10, 30, 30, 10]


def test_tick_ends_the_run_after_the_duration():
    shape = ConstantShape(4)
    assert tick(shape, 0.0, None) == (4, 40.0)
    assert tick(shape, 9.9, 10.0) == (4, 40.0)
    assert tick(shape, 10.0, 10.0) is None


@pytest.mark.parametrize("shape", [
    ConstantShape(3), StepShape(step_users=2, step_s=1.5, users=8),
    SpikeShape(users=5, spike_users=20, at_s=3.0, spike_s=1.0),
])
def test_environment_round_trip(shape):
    assert shape_from_env(shape.to_env()) == shape


def test_no_shape_unless_named_and_unknown_names_are_refused():
    assert shape_from_env({}) is None
    with pytest.raises(ValueError, match="unknown shape"):
        shape_from_env({"PROGRESSIVE_SHAPE": "sawtooth"})


def test_a_step_that_never_steps_is_refused():
    with pytest.raises(ValueError, match="step_s > 0"):
        StepShape(step_users=1, step_s=0, users=5)
