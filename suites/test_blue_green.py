"""Blue-green switchover, in Flagger's `iterations` form and in Shipper's steps form.

SEMANTICS.md §9: before the switch all production requests reach blue and green answers on
its own address; the switch is one routing change; zero requests fail across it under load;
after it all requests reach green; blue loses capacity only after it lost its traffic; a
rollback switches back with the same guarantees.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from progressive.engines.base import EngineUnderTest, ReleasingEngine
from progressive.load.loadtester import LoadTester
from progressive.load.recording import is_failure
from progressive.load.timeline import WeightTimeline, join
from progressive.load.traffic import traffic
from progressive.model import load_specs
from progressive.model.durations import format_duration
from progressive.model.types import ApplicationSpec, HookType, Webhook
from progressive.platforms.base import Platform
from progressive.testing import (
    FIXTURES,
    LOAD_RPS,
    LOAD_USERS,
    SuiteTimeouts,
    load_spec,
    wait_scaled_to_zero,
    with_analysis,
    with_webhooks,
)
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

BLUE, GREEN = AppVersion("blue"), AppVersion("green")
ITERATIONS = 5  # of analysis before the switch (the fixture's 10 would add 7.5 s at scale 0.1)
STEP_REQUESTS = 100  # requests each Shipper step carries before the next move


def green_analysis_load(spec, tester: LoadTester, gateway_url: str, as_run, rps: int = 40):
    """Load-test webhooks driving green's own address, as Flagger's load tester would.

    A `pre-rollout` hook starts the load at the first analysis tick, so the first metric
    check (the next tick) finds data; a `rollout` hook on every tick keeps it going (an
    identical running job is not started twice). Each job lasts two intervals. The hooks keep
    the spec's default timeout, which the engine scales.
    """
    duration = 2 * SuiteTimeouts.of(as_run(spec)).interval_s
    metadata = {"type": "load", "url": gateway_url + "/", "rps": str(rps),
                "duration": format_duration(duration),
                "headers": f"Host: {spec.canary_name}.{spec.namespace}"}
    hooks = [Webhook(f"green-load-{kind.value}", kind, tester.url, metadata=metadata)
             for kind in (HookType.PRE_ROLLOUT, HookType.ROLLOUT)]
    return with_webhooks(spec, *hooks)


@pytest.mark.conformance(
    "blue-green-iterations",
    "Flagger form: analysis on green's own address, then all traffic switches in one change, "
    "with zero failed requests",
    features=["blue-green", "metrics-istio", "webhooks"],  # load-test hooks drive green
    rules=["9.1"],
)
def test_flagger_blue_green_switches_once(platform, rollout_under_load, namespace, as_run):
    with LoadTester() as tester:
        spec = green_analysis_load(
            with_analysis(load_spec("canary-blue-green.yaml", namespace), iterations=ITERATIONS),
            tester, platform.gateway_url, as_run)
        obs = rollout_under_load(spec, BLUE, GREEN)
        green_hits = tester.requests_sent

    assert obs.status.phase == "Succeeded", obs.explain()
    assert obs.weights_seen() == [0, 100, 0], "not a single switch of all traffic"
    assert obs.failures() == 0, f"{obs.failures()} requests failed across the switch"
    assert green_hits > 0, "green was never reached on its own address"
    before, switched = obs.step_shares("green")[:2]
    assert before.canary_weight == 0 and before.k == 0, "production traffic reached green early"
    assert switched.canary_weight == 100 and switched.k == switched.n, "blue answered after switch"


@pytest.mark.conformance(
    "blue-green-iterations-rollback",
    "Flagger form: a bad green is rolled back before any production request reaches it",
    features=["blue-green", "metrics-istio", "webhooks"],  # load-test hooks drive green
    rules=["9.1", "6.1", "7.1"],
)
def test_flagger_blue_green_bad_green_never_switched(platform, rollout_under_load, namespace,
                                                     as_run):
    with LoadTester() as tester:
        spec = green_analysis_load(
            with_analysis(load_spec("canary-blue-green.yaml", namespace), iterations=ITERATIONS),
            tester, platform.gateway_url, as_run)
        obs = rollout_under_load(spec, BLUE, AppVersion("green", error_rate=0.5))

    assert obs.status.phase == "Failed"
    assert obs.weights_seen() == [0], "traffic switched to a failing green"
    assert obs.failures() == 0 and set(obs.versions()) == {"blue"}
    wait_scaled_to_zero(platform, obs, "green")


@pytest.mark.conformance(
    "blue-green-shipper-unready-contender",
    "Shipper form: no traffic moves onto green capacity that never becomes ready; the release "
    "fails at staging and blue keeps every request",
    features=["shipper", "workload-endpoints"],
    rules=["9.2"],
)
def test_shipper_moves_no_traffic_onto_unready_capacity(platform: Platform,
                                                         engine: EngineUnderTest,
                                                         shipper: ApplicationSpec,
                                                         time_scale: float) -> None:
    t = SuiteTimeouts.of_release(shipper, time_scale)
    assert isinstance(engine, ReleasingEngine), "an engine with feature shipper runs releases"
    # Green serves requests but answers its readiness probe 503 forever: only an engine that
    # waits for ready capacity keeps traffic off it. The engine gives up on it after the
    # allowance a replica has to start on this machine.
    release = engine.release(shipper, BLUE, AppVersion("green", never_ready=True),
                             ready_timeout_s=t.machine_s)
    router = platform.router()
    with ExitStack() as stack:
        timeline = stack.enter_context(WeightTimeline(lambda: router.get_routes(release.as_canary)))
        run = stack.enter_context(traffic(platform.gateway_url, rps=LOAD_RPS, users=LOAD_USERS,
                                          host_header=platform.gateway_host(release.as_canary)))
        run.wait_for_requests(50, timeout=t.requests_s(50, LOAD_RPS))
        finished = release.run()
        run.wait_for_requests(len(run.records) + STEP_REQUESTS,
                              timeout=t.requests_s(STEP_REQUESTS, LOAD_RPS))

    assert not finished, "the release went through with green never ready"
    assert weights(timeline.steps) == [0], f"traffic moved to green: {weights(timeline.steps)}"
    assert {r.version for r in run.records} == {"blue"}, "green answered production requests"
    failures = [r for r in run.records if is_failure(r.status)]
    assert not failures, f"{len(failures)} requests failed while green was not ready"


def weights(steps) -> list[int]:
    return [s.canary for s in steps]


def held(steps, hold_s: float) -> list[int]:
    """The weights seen at least `hold_s` (SuiteTimeouts.held_s); the others were passed on
    the way."""
    return [s.canary for s in steps if s.last_seen - s.first_seen >= hold_s]


@pytest.fixture
def shipper(platform: Platform, engine: EngineUnderTest,
            namespace: str) -> Iterator[ApplicationSpec]:
    (app,) = load_specs(FIXTURES / "application-shipper.yaml")
    assert isinstance(app, ApplicationSpec)
    app = dataclasses.replace(app, namespace=namespace, replicas=2)
    yield app
    platform.router().remove(namespace, app.name)
    platform.workloads(namespace).stop_all()


@pytest.mark.conformance(
    "blue-green-shipper",
    "Shipper form: staging, 50/50, full on and back, capacity before traffic, zero failures",
    features=["shipper", "workload-endpoints"],
    rules=["9.2"],
)
def test_shipper_steps_switch_and_roll_back(platform: Platform, engine: EngineUnderTest,
                                            shipper: ApplicationSpec, time_scale: float) -> None:
    t = SuiteTimeouts.of_release(shipper, time_scale)
    step_s = t.requests_s(STEP_REQUESTS, LOAD_RPS)
    assert isinstance(engine, ReleasingEngine), "an engine with feature shipper runs releases"
    release = engine.release(shipper, BLUE, GREEN)
    router, workloads = platform.router(), platform.workloads(shipper.namespace)
    last = len(shipper.steps) - 1
    with ExitStack() as stack:
        timeline = stack.enter_context(WeightTimeline(lambda: router.get_routes(release.as_canary)))
        run = stack.enter_context(traffic(platform.gateway_url, rps=LOAD_RPS, users=LOAD_USERS,
                                          host_header=platform.gateway_host(release.as_canary)))
        run.wait_for_requests(50, timeout=t.requests_s(50, LOAD_RPS))
        assert release.advance_to(0), release.last_error  # staging: green up, no traffic
        green_direct = workloads.endpoints(release.contender)
        # Capacity first: every green replica started and listening when staging is reached
        # (read from the workloads, not probed: a probe may time out once on a loaded machine).
        # A ready replica then answers its probe within one of the release's intervals.
        assert len(green_direct) == shipper.replicas and all(p for _, p in green_direct), \
            f"staging reached with green at {green_direct}"
        wait_until(lambda: workloads.is_ready(release.contender).ready,
                   timeout=t.interval_s, what="green to answer its readiness probe")
        run.wait_for_requests(len(run.records) + STEP_REQUESTS, timeout=step_s)
        assert release.run(last), release.last_error  # 50/50, then full on
        assert workloads.replicas(release.incumbent) == 0, "blue kept capacity after full on"
        run.wait_for_requests(len(run.records) + STEP_REQUESTS, timeout=step_s)
        forward = list(timeline.steps)
        assert release.rollback("suite: switch back"), release.last_error
        run.wait_for_requests(len(run.records) + STEP_REQUESTS, timeout=step_s)

    assert green_direct, "green had no address of its own at staging"
    # Each move is two router updates (contender traffic, then incumbent traffic, or the
    # reverse going back): the poller may catch the split between them for milliseconds.
    # Held weights must be the steps'; passing ones must lie on the way.
    back = timeline.steps[len(forward) - 1:]
    assert held(forward, t.held_s) == [0, 50, 100], f"forward weights {weights(forward)}"
    assert weights(forward) == sorted(weights(forward)), f"went backwards: {weights(forward)}"
    assert held(back, t.held_s) == [100, 0], f"rollback weights {weights(back)}"
    assert weights(back) == sorted(weights(back), reverse=True), f"rollback: {weights(back)}"
    failures = [r for r in run.records if is_failure(r.status)]
    assert not failures, f"{len(failures)} requests failed across the switches"
    shares = {s.canary_weight: s for s in join(timeline, run.records, canary_version="green")}
    assert shares[100].k == shares[100].n > 0, "blue answered while green had all traffic"
    assert shares[0].k == 0, "green answered before it had traffic"
    # Back at step 0 (staging): green keeps its capacity but no traffic; blue has both again.
    assert workloads.replicas(release.incumbent) == shipper.replicas, "blue lacks capacity"
