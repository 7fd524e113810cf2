"""A canary's life around its analysis: initialisation, a primary that stops being ready, a
revision replaced mid-run, and the two ways a promotion may go (in steps, or at once).

SEMANTICS.md §4 (steps 1, 3 and 6), §5 (stepWeightPromotion, skipAnalysis). Observed from
outside: the router's live weights, the workloads' replica counts, the answers on the wire and
the engine's reported status.
"""

from __future__ import annotations

import pytest
import requests

from progressive.routing.base import RouterError
from progressive.testing import (
    SuiteTimeouts,
    assert_promoted,
    besides_primary,
    engine_session,
    holds,
    load_spec,
    with_analysis,
)
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

V1, V2, V3 = AppVersion("v1"), AppVersion("v2"), AppVersion("v3")
ANSWERS = 20  # requests through the gateway when a test checks which version answers
SHORT_MAX = 30  # the seed's Canary with three steps: what these tests judge needs no more


@pytest.mark.conformance(
    "canary-initialised",
    "once Initialized, all traffic goes to the primary at 100/0 and the target runs no replicas",
    features=["canary"],
    rules=["4.1"],
)
def test_initialisation_hands_traffic_to_the_primary(platform, pytestconfig, namespace,
                                                     tmp_path, time_scale):
    spec = load_spec("seed-canary.yaml", namespace)
    with engine_session(platform, pytestconfig.getoption("--engine"), tmp_path,
                        time_scale) as engine:
        engine.apply(spec, V1)  # returns once the engine reports Initialized
        run = engine.spec
        assert run is not None
        t = SuiteTimeouts.of(run)
        router = platform.router()

        def split() -> tuple[int, int] | None:
            try:
                routes = router.get_routes(run)
            except RouterError:  # not in the data plane yet: a mesh takes a moment to apply it
                return None
            return routes.primary_weight, routes.canary_weight

        wait_until(lambda: split() == (100, 0), timeout=t.machine_s,
                   what="the gateway to route 100/0 to the primary")
        # Scaled down by the tick that initialised, or by the next one.
        wait_until(lambda: not besides_primary(platform, run), timeout=t.ticks_s(2),
                   what="nothing but the primary to run replicas")
        answers = gateway_answers(platform, run, requests.Session(), t)
        assert set(answers) == {(200, "v1")}, answers


@pytest.mark.conformance(
    "primary-not-ready-waits",
    "while the primary is not ready the analysis waits: no step, no failed check; then it "
    "goes on and promotes",
    features=["canary", "metrics-istio"],
    rules=["4.3", "4.11"],
)
def test_unready_primary_holds_the_analysis(platform, rollout_under_load, namespace):
    import time

    spec = with_analysis(load_spec("seed-canary.yaml", namespace), max_weight=SHORT_MAX)
    window: dict[str, float] = {}

    def primary_down_for_a_while(engine, timeline):
        run = engine.spec
        t = SuiteTimeouts.of(run)
        wait_until(lambda: engine.status().canary_weight >= 10 or engine.status().done,
                   timeout=t.rollout_s, what="the first weight step")
        workloads = platform.workloads(run.namespace)
        window["down"] = time.time()
        # A platform may hold this call while it waits for the new replica (the local one
        # does, as a Deployment's rollout would): the engine goes on meanwhile, so what it does
        # is judged below from the status timeline, over the whole window.
        workloads.deploy(run.primary_name, AppVersion("v1", never_ready=True))
        before = engine.status()
        holds(lambda: engine.status() == before, 2 * t.interval_s,
              "the halt while the primary is not ready", poll=t.poll_s)
        window["up"] = time.time()
        workloads.deploy(run.primary_name, V1)

    obs = rollout_under_load(spec, V1, V2, during=primary_down_for_a_while)
    assert obs.status.phase == "Succeeded", obs.explain()
    t = obs.timeouts
    # A tick under way when the primary went down may still finish its step; a change seen
    # after that, before the primary came back, is the analysis going on without it.
    moved = [c for c in obs.statuses
             if c.not_before >= window["down"] + t.interval_s and c.t <= window["up"]]
    assert not moved, f"the analysis went on while the primary was not ready: {moved}"
    counted = [c for c in obs.statuses if window["down"] <= c.not_before and c.t <= window["up"]
               and c.failed_checks > 0]
    assert not counted, f"the wait for the primary was counted as failed checks: {counted}"
    assert obs.weights_seen() == [0, *obs.spec.analysis.weight_sequence(), 0]


@pytest.mark.conformance(
    "canary-restart-on-new-revision",
    "a revision deployed during the analysis restarts it from weight 0 (no rollback), and the "
    "newest revision is promoted",
    features=["canary", "metrics-istio"],
    rules=["4.6", "4.11", "5.1"],
)
def test_new_revision_mid_analysis_restarts_it(rollout_under_load, namespace):
    spec = with_analysis(load_spec("seed-canary.yaml", namespace), max_weight=SHORT_MAX)
    replaced_at: list[float] = []

    def replace_after_two_steps(engine, timeline):
        import time

        t = SuiteTimeouts.of(engine.spec)
        wait_until(lambda: engine.status().canary_weight >= 20 or engine.status().done,
                   timeout=t.rollout_s, what="the second weight step")
        replaced_at.append(time.time())
        engine.trigger(V3)

    obs = rollout_under_load(spec, V1, V2, during=replace_after_two_steps)
    assert obs.status.phase == "Succeeded", obs.explain()
    assert "Failed" not in obs.phases(), "the revision change was handled as a rollback"
    weights = obs.weights_seen()
    back = next((i for i in range(1, len(weights) - 1) if weights[i] == 0), None)
    assert back is not None, f"the analysis never went back to weight 0: {weights}"
    assert max(weights[:back]) >= 20, f"restarted before the second step: {weights}"
    assert weights[back:] == [0, *obs.spec.analysis.weight_sequence(), 0], (
        f"after the restart the weights did not walk the spec again: {weights}")
    tail = obs.records.between(obs.done_at, float("inf"))
    assert tail and {r.version for r in tail} == {"v3"}, "the newest revision is not live"


@pytest.mark.conformance(
    "promotion-in-steps",
    "with stepWeightPromotion the primary takes the traffic back in steps of that size",
    features=["canary", "metrics-istio"],
    rules=["5.2", "4.11", "5.1"],
)
def test_step_weight_promotion_moves_back_in_steps(rollout_under_load, namespace):
    spec = with_analysis(load_spec("seed-canary.yaml", namespace), max_weight=SHORT_MAX,
                         step_weight_promotion=20)
    obs = rollout_under_load(spec, V1, V2)
    assert_promoted(obs)
    assert obs.weights_seen() == [0, 10, 20, 30, 10, 0]


@pytest.mark.conformance(
    "promotion-skip-analysis",
    "with skipAnalysis a new revision is promoted at once: no traffic step, no analysis",
    features=["canary"],
    rules=["5.3", "5.1"],
)
def test_skip_analysis_promotes_at_once(platform, rollout_under_load, namespace):
    spec = load_spec("seed-canary.yaml", namespace, skip_analysis=True)
    obs = rollout_under_load(spec, V1, V2)
    assert obs.status.phase == "Succeeded", obs.explain()
    assert obs.weights_seen() == [0], "traffic stepped although the analysis is skipped"
    assert not obs.failure_counted(), "a check was counted although the analysis is skipped"
    # Flagger reports Succeeded once it asked the primary for the new version, not once the
    # primary runs it (an analysed promotion waits, §5): on a cluster the primary's rolling
    # update is still under way. The gateway must answer only v2 within the rollout's bound.
    session = requests.Session()
    wait_until(lambda: {v for _, v in gateway_answers(platform, obs.spec, session, obs.timeouts)}
               == {"v2"}, timeout=obs.timeouts.rollout_s, what="the primary to answer only v2")


def gateway_answers(platform, spec, session, t: SuiteTimeouts) -> list[tuple[int, str | None]]:
    """(status, version) of ANSWERS requests through the gateway to `spec`'s host."""
    host = {"Host": platform.gateway_host(spec)}
    answers = [session.get(platform.gateway_url, headers=host, timeout=t.machine_s)
               for _ in range(ANSWERS)]
    return [(a.status_code, a.headers.get("X-Version")) for a in answers]
