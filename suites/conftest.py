"""Fixtures of the conformance suites; the steps themselves are in conformance_support.py."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from conformance_support import LOAD_RPS, LOAD_USERS, Observation, attach_json

from load.timeline import WeightTimeline
from load.traffic import traffic
from progressive.model.types import CanarySpec


@pytest.fixture
def rollout_under_load(platform, engine, request):
    """Run one rollout of `spec` from `initial` to `new` under load; return an Observation.

    `during(engine, timeline)` runs right after the trigger, while the rollout goes on.
    Cleans up the test's routes and workloads afterwards.
    """
    specs: list[CanarySpec] = []

    def run(spec: CanarySpec, initial, new, *, rps: float = LOAD_RPS, host: str | None = None,
            timeout: float | None = None, during=None) -> Observation:
        from progressive.engine.bounds import run_bound

        specs.append(spec)
        engine.apply(spec, initial)
        router = platform.router()
        scaled = engine.spec
        bound = timeout if timeout is not None else run_bound(scaled)
        host = host or platform.gateway_host(spec)
        with ExitStack() as stack:
            timeline = stack.enter_context(WeightTimeline(lambda: router.get_routes(scaled)))
            load = stack.enter_context(
                traffic(platform.gateway_url, rps=rps, users=LOAD_USERS, host_header=host)
            )
            load.wait_for_requests(10, timeout=30)
            engine.trigger(new)
            if during is not None:
                during(engine, timeline)  # act mid-rollout: open a gate, kill a process...
            status = engine.wait_done(timeout=bound)
            load.wait_for_requests(len(load.records) + 20, timeout=10)  # traffic after the end
        obs = Observation(scaled, timeline, load, status, engine.events())
        attach_json("events", obs.events)
        attach_json("weights seen", obs.weights_seen())
        return obs

    yield run
    engine.close()  # stop the controller before its routes and workloads go
    for spec in specs:
        try:
            platform.router().finalize(spec)
        except Exception:  # noqa: BLE001 - cleanup is best effort, the test result stands
            pass
        try:
            platform.workloads(spec.namespace).stop_all()
        except Exception:  # noqa: BLE001
            pass
