"""Fixtures of the conformance suites; the steps themselves are in conformance_support.py."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from conformance_support import engine_session, observe_rollout

from progressive.pytest_plugin import _time_scale


def _rollouts(platform, config, work_dirs):
    """(run, stack): `run(spec, initial, new, ...)` observes one rollout with a fresh engine;
    closing the stack stops the engines and removes their routes and workloads."""
    stack = ExitStack()

    def run(spec, initial, new, **options):
        engine = stack.enter_context(engine_session(
            platform, config.getoption("--engine"), next(work_dirs), _time_scale(config)))
        return observe_rollout(platform, engine, spec, initial, new, **options)

    return run, stack


@pytest.fixture
def rollout_under_load(platform, pytestconfig, tmp_path):
    """One rollout under load per call, judged by this test alone."""
    dirs = (tmp_path / f"engine-{i}" for i in range(100))
    run, stack = _rollouts(platform, pytestconfig, dirs)
    with stack:
        yield run


@pytest.fixture(scope="module")
def module_rollout(platform, pytestconfig, tmp_path_factory):
    """One rollout under load that several tests of a module judge (the run is the slow part)."""
    dirs = (tmp_path_factory.mktemp("engine") for _ in range(100))
    run, stack = _rollouts(platform, pytestconfig, dirs)
    with stack:
        yield run
