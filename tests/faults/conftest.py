"""Fixtures of the fault tests: a rollout under load on the session's local platform, with a
fault injected while it runs, observed from outside (Locust records, the weight timeline, the
engine's events), and the figures each test reports. Helpers: fault_support.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import pytest
from fault_support import LOAD_RPS, LOAD_USERS, Observation, Run, engine_session, load_spec

from progressive.engine.bounds import run_bound
from progressive.load.timeline import WeightTimeline
from progressive.load.traffic import traffic
from progressive.workloads.base import AppVersion

SEED = "seed-canary.yaml"
V1 = AppVersion("v1")


@pytest.fixture
def local_platform(platform, pytestconfig):
    """The session's platform; these faults are the local platform's processes."""
    if pytestconfig.getoption("--platform") != "local":
        pytest.skip("fault injection kills the local platform's processes")
    return platform


@pytest.fixture
def figures(record_property):
    """`figures(name, value)`: a measured figure, in the test output and the JUnit XML."""

    def note(name: str, value) -> None:
        print(f"FIGURE {name} = {value}")
        record_property(name, value)

    return note


@pytest.fixture
def rollout(local_platform, namespace, time_scale, tmp_path):
    """`rollout(new, during=..., replicas=1, scale=None, extra_s=0)`: the seed's Canary (in
    the test's namespace) from v1 to `new` under load with the bundled engine, at the session's
    time scale unless `scale` is given; `during(run)` runs right after the trigger with a `Run`
    (engine, timeline, load). Returns the Observation and the Run. Wait bound: `run_bound` of
    the time-scaled spec plus `extra_s` for the fault."""
    with ExitStack() as stack:

        def run(new: AppVersion, during: Callable | None = None, *, replicas: int = 1,
                scale: float | None = None, extra_s: float = 0.0):
            spec = load_spec(SEED, namespace)
            engine = stack.enter_context(engine_session(
                local_platform, "bundled", tmp_path / "engine", scale or time_scale))
            engine.apply(spec, V1, replicas=replicas)
            scaled = engine.spec
            router = local_platform.router()
            host = local_platform.gateway_host(spec)
            with ExitStack() as inner:
                timeline = inner.enter_context(WeightTimeline(lambda: router.get_routes(scaled)))
                load = inner.enter_context(traffic(local_platform.gateway_url, rps=LOAD_RPS,
                                                   users=LOAD_USERS, host_header=host))
                load.wait_for_requests(10, timeout=30)
                ctx = Run(local_platform, engine, timeline, load, scaled)
                engine.trigger(new)
                if during is not None:
                    during(ctx)
                status = engine.wait_done(timeout=run_bound(scaled) + extra_s)
                load.wait_for_requests(len(load.records) + 20, timeout=10)
            return Observation(scaled, timeline, load, status, engine.events()), ctx

        yield run


