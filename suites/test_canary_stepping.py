"""Canary stepping: the weights walk the spec's steps, traffic follows them, promotion is clean.

SEMANTICS.md §4, §5 and §12. Observed from outside: the router's live weights, the requests on
the wire (who answered, with what status) and the engine's reported phase. One rollout of the
seed's Canary is judged by the first three tests; the stepWeights spec gets its own.
"""

from __future__ import annotations

import pytest

from progressive.testing import (
    assert_no_failed_requests,
    assert_promoted,
    assert_traffic_follows_weights,
    load_spec,
)
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

V1, V2 = AppVersion("v1"), AppVersion("v2")
NAMESPACE = "conf-canary"


@pytest.fixture(scope="module")
def seed_rollout(module_rollout):
    return module_rollout(load_spec("seed-canary.yaml", NAMESPACE), V1, V2)


@pytest.mark.xdist_group("seed-canary")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "canary-stepping",
    "the router walks exactly the weights the seed's Canary implies and the canary is promoted",
    features=["canary", "metrics-istio"],
    rules=["4.11"],
)
def test_weights_walk_the_steps_and_promote(seed_rollout):
    obs = seed_rollout
    assert obs.status.phase == "Succeeded", obs.explain()
    expected = [0, *obs.spec.analysis.weight_sequence(), 0]
    assert obs.weights_seen() == expected, "weights seen in the router differ from the spec"


@pytest.mark.xdist_group("seed-canary")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "canary-traffic-matches-weights",
    "during every weight step the share of requests answered by the canary is consistent "
    "with that weight (exact binomial test, false-alarm probability 1e-4 per step)",
    features=["canary", "metrics-istio"],
    rules=["12.1", "4.11"],
)
def test_traffic_share_follows_each_step(seed_rollout):
    obs = seed_rollout
    assert obs.status.phase == "Succeeded", obs.explain()
    assert_traffic_follows_weights(obs)  # until the promotion starts; every step carried requests


@pytest.mark.xdist_group("seed-canary")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "canary-promotion-clean",
    "after promotion the primary answers with the new version and no request failed",
    features=["canary", "metrics-istio"],
    rules=["5.1"],
)
def test_promotion_serves_new_version_without_failures(platform, seed_rollout):
    obs = seed_rollout
    spec = obs.spec
    assert_promoted(obs)  # the gateway answers v2 only after the end
    assert_no_failed_requests(obs)
    workloads = platform.workloads(spec.namespace)
    assert workloads.app(spec.primary_name).version == "v2"
    # Scaled to zero by the tick that ended the rollout, or by the next one.
    wait_until(lambda: workloads.replicas(spec.canary_name) == 0, timeout=obs.timeouts.interval_s,
               what="the canary to be scaled to zero")


@pytest.mark.conformance(
    "canary-step-weights",
    "a Canary with stepWeights [1, 5, 25, 50] walks exactly that list and is promoted",
    features=["canary", "stepWeights", "metrics-istio"],
    rules=["4.13"],
)
def test_step_weights_list_is_walked(rollout_under_load, namespace):
    obs = rollout_under_load(load_spec("canary-stepweights.yaml", namespace), V1, V2)
    assert obs.status.phase == "Succeeded", obs.explain()
    assert obs.weights_seen() == [0, 1, 5, 25, 50, 0]
