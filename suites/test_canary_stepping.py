"""Canary stepping: the weights walk the spec's steps, traffic follows them, promotion is clean.

SEMANTICS.md §4, §5 and §12. Observed from outside: the router's live weights, the requests on
the wire (who answered, with what status) and the engine's reported phase.
"""

from __future__ import annotations

import pytest
from conformance_support import load_spec

from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

V1, V2 = AppVersion("v1"), AppVersion("v2")

SPECS = [
    pytest.param("seed-canary.yaml", id="seed-v1alpha2"),
    pytest.param("canary-stepweights.yaml", id="stepWeights"),
]


@pytest.mark.conformance(
    "canary-stepping",
    "the router walks exactly the weights the spec implies and the canary is promoted",
    features=["canary", "metrics-istio"],
)
@pytest.mark.parametrize("spec_file", SPECS)
def test_weights_walk_the_steps_and_promote(rollout_under_load, namespace, spec_file):
    spec = load_spec(spec_file, namespace)
    obs = rollout_under_load(spec, V1, V2)

    assert obs.status.phase == "Succeeded", obs.explain()
    expected = [0, *spec.analysis.weight_sequence(), 0]
    assert obs.weights_seen() == expected, "weights seen in the router differ from the spec"


@pytest.mark.conformance(
    "canary-traffic-matches-weights",
    "during every weight step the share of requests answered by the canary is consistent "
    "with that weight (exact binomial test, false-alarm probability 1e-4 per step)",
    features=["canary", "metrics-istio"],
)
def test_traffic_share_follows_each_step(rollout_under_load, namespace):
    spec = load_spec("seed-canary.yaml", namespace)
    obs = rollout_under_load(spec, V1, V2)

    until = obs.promotion_started()  # after it the primary runs v2 too
    steps = [s for s in obs.step_shares(canary_version="v2", until=until) if s.n > 0]
    assert steps, "no request fell inside any weight step"
    bad = [s for s in steps if not s.consistent]
    assert not bad, f"share out of its acceptance interval: {bad}"
    stepped = {s.canary_weight for s in steps if s.canary_weight > 0}
    assert stepped >= set(spec.analysis.weight_sequence()), "a step carried no request at all"


@pytest.mark.conformance(
    "canary-promotion-clean",
    "after promotion the primary answers with the new version and no request failed",
    features=["canary", "metrics-istio"],
)
def test_promotion_serves_new_version_without_failures(platform, rollout_under_load, namespace):
    spec = load_spec("seed-canary.yaml", namespace)
    obs = rollout_under_load(spec, V1, V2)

    assert obs.status.phase == "Succeeded"
    assert obs.failures() == 0, f"{obs.failures()} failed requests during the rollout"
    primary = platform.workloads(namespace)
    assert primary.app(spec.primary_name).version == "v2"
    wait_until(lambda: primary.replicas(spec.canary_name) == 0, timeout=5,
               what="the canary to be scaled to zero")
    tail = obs.records.between(obs.records[-1].t - 0.5, obs.records[-1].t + 1)
    assert tail and all(r.version == "v2" for r in tail), "the gateway still answers v1"
