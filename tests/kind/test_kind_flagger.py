"""Flagger as an engine under test: the Canary it is given, read back by our own parser, its
install commands, its status, and what it cannot do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from kind_support import spec

from progressive.engines.flagger import (
    FlaggerEngine,
    status_from_canary,
    to_flagger_canary,
    to_flagger_metric_templates,
    unsupported_features,
)
from progressive.errors import UserError
from progressive.model.types import CanarySpec, MetricCheck, MetricKind
from progressive.model.validate import parse_document
from progressive.platforms.base import ALL_FEATURES
from progressive.platforms.kind.cluster import ON_PATH
from progressive.platforms.kind.pins import load_pins
from progressive.platforms.kind.platform import flagger_install_steps

CANARIES = ["seed-canary.yaml", "canary-stepweight.yaml", "canary-stepweights.yaml",
            "canary-blue-green.yaml", "canary-ab.yaml", "canary-mirror.yaml",
            "canary-webhooks.yaml"]
BUILTIN = {MetricKind.REQUEST_SUCCESS_RATE: "request-success-rate",
           MetricKind.REQUEST_DURATION: "request-duration"}


def v1beta1(original: CanarySpec) -> CanarySpec:
    """What the same canary is in v1beta1 words: built-in checks under their current names."""
    metrics = tuple(replace(m, name=BUILTIN.get(m.kind, m.name)) for m in original.analysis.metrics)
    return replace(original, api_version="flagger.app/v1beta1",
                   analysis=replace(original.analysis, metrics=metrics))


@pytest.mark.parametrize("name", CANARIES)
def test_the_flagger_canary_reads_back_as_the_same_spec(name):
    original = spec(name)
    doc = yaml.safe_load(yaml.safe_dump(to_flagger_canary(original)))  # as it goes on the wire
    assert (doc["apiVersion"], doc["kind"]) == ("flagger.app/v1beta1", "Canary")
    assert parse_document(doc, name) == v1beta1(original)


def test_the_seed_maps_field_by_field(seed):
    doc = to_flagger_canary(seed)
    assert doc["metadata"] == {"name": seed.name, "namespace": "jx-production",
                               "labels": {"app.kubernetes.io/managed-by": "progressive"}}
    body = doc["spec"]
    assert body["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": seed.target}
    assert body["progressDeadlineSeconds"] == 60
    assert body["service"] == {"port": 8080, "targetPort": 8080,
                               "hosts": ["croc-hunter.istio.example.com"],
                               "gateways": ["public-gateway.istio-system.svc.cluster.local"]}
    assert body["analysis"] == {
        "interval": "15s", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
        "metrics": [
            {"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99.0}},
            {"name": "request-duration", "interval": "30s", "thresholdRange": {"max": 500.0}},
        ]}


def test_a_time_scaled_spec_keeps_sub_second_precision(seed):
    doc = to_flagger_canary(seed.scaled(0.1))
    assert doc["spec"]["analysis"]["interval"] == "1.5s"  # Flagger will run it at 10s
    assert doc["spec"]["progressDeadlineSeconds"] == 6
    assert doc["spec"]["analysis"]["metrics"][1]["interval"] == "3s"


def test_a_custom_query_becomes_a_metric_template(seed):
    query = ('sum(rate(istio_requests_total{destination_workload="{{ target }}",'
             'destination_workload_namespace="{{ namespace }}"}[{{ interval }}]))')
    custom = MetricCheck(name="Error Count", kind=MetricKind.CUSTOM, max=5, interval_s=60,
                         query=query)
    with_custom = replace(seed, analysis=replace(seed.analysis, metrics=(custom,)))
    (template,) = to_flagger_metric_templates(with_custom)
    assert template["kind"] == "MetricTemplate"
    assert template["metadata"]["name"] == f"{seed.name}-error-count"
    assert template["spec"] == {"provider": {"type": "prometheus",
                                             "address": "http://prometheus.istio-system:9090"},
                                "query": query}
    (metric,) = to_flagger_canary(with_custom)["spec"]["analysis"]["metrics"]
    assert metric["templateRef"] == {"name": template["metadata"]["name"],
                                     "namespace": seed.namespace}
    assert metric["thresholdRange"] == {"max": 5}
    assert to_flagger_metric_templates(seed) == []  # built-in checks need none


def test_flagger_is_installed_pinned_with_kubectl_and_waited_for():
    pins = load_pins()
    apply, wait = flagger_install_steps(ON_PATH, Path("/k/config"))
    assert apply.argv == ["kubectl", "--kubeconfig=/k/config", "apply", "-k",
                          f"github.com/fluxcd/flagger//kustomize/istio?ref=v{pins.flagger}"]
    assert wait.argv == ["kubectl", "--kubeconfig=/k/config", "-n", "istio-system", "rollout",
                         "status", "deployment/flagger", "--timeout=300s"]


def test_status_comes_from_the_canary_status():
    canary = {"status": {"phase": "Progressing", "canaryWeight": 30, "failedChecks": 1,
                         "iterations": 0, "lastAppliedSpec": "5d8c"}}
    status = status_from_canary(canary)
    assert (status.phase, status.canary_weight, status.failed_checks, status.iterations) == (
        "Progressing", 30, 1, 0)
    assert not status.done
    assert status_from_canary({"status": {"phase": "Failed"}}).done
    assert status_from_canary(None).phase == ""  # not reconciled by Flagger yet


def test_what_flagger_lacks_is_declared_in_the_suites_feature_names():
    lacking = unsupported_features()
    assert "sub-10s-interval" in lacking and lacking <= ALL_FEATURES
    assert {"canary", "stepWeights", "blue-green", "ab-testing", "mirroring"}.isdisjoint(lacking)


def test_flagger_needs_a_cluster_platform(tmp_path):
    class LocalLike:
        name = "local"

    with pytest.raises(UserError, match="runs in a cluster"):
        FlaggerEngine(LocalLike(), tmp_path)


# -- how the suites judge Flagger -------------------------------------------------------------

@pytest.mark.parametrize("name", CANARIES)
def test_flagger_runs_every_spec_at_its_interval_floor_in_whole_seconds(name):
    from progressive.engines.flagger import MIN_INTERVAL_S, as_flagger_runs_it

    original = spec(name)
    ran = as_flagger_runs_it(original, 0.1)
    a = ran.analysis
    assert a.interval_s >= MIN_INTERVAL_S
    durations = [ran.progress_deadline_s, a.interval_s, *(m.interval_s for m in a.metrics),
                 *(h.timeout_s for h in a.webhooks)]
    assert all(d == int(d) and d >= 1 for d in durations), durations
    canary = to_flagger_canary(ran)  # what the CRD's `^[0-9]+(m|s)` pattern accepts
    for hook in canary["spec"]["analysis"].get("webhooks", []):
        assert hook["timeout"].rstrip("sm").isdigit(), hook["timeout"]
    assert as_flagger_runs_it(original, 5.0).analysis.interval_s == 5 * original.analysis.interval_s


@pytest.mark.parametrize(("message", "action"), [
    ("New revision detected! Scaling up podinfo.test", "new_revision"),
    ("New revision detected! Restarting analysis for podinfo.test", "restart"),
    ("Advance podinfo.test canary weight 20", "step"),
    ("Advance podinfo.test canary iteration 2/5", "step"),
    ("Copying podinfo.test template spec to podinfo-primary.test", "promote"),
    ("Routing all traffic to primary", "finalise"),
    ("Promotion completed! Scaling down podinfo.test", "succeed"),
    ("Rolling back podinfo.test failed checks threshold reached 2", "rollback"),
    ("Rolling back podinfo.test manual webhook invoked", "rollback"),
    ("Halt podinfo.test advancement waiting for promotion approval gate", "gate_halt"),
    ("Halt podinfo.test advancement pre-rollout check pre failed 500", "hook_failed"),
    ("Halt podinfo.test advancement external check load failed 500", "hook_failed"),
    ("Halt podinfo.test advancement request duration 812ms > 500ms", "check_failed"),
    ("Halt advancement no values found for istio metric request-success-rate probably "
     "podinfo.test is not receiving traffic", "check_failed"),
    ("Pre-rollout check pre passed", "hook"),
    ("Starting canary analysis for podinfo.test", "other"),
])
def test_flagger_events_take_the_suites_action_names(message, action):
    from progressive.engines.flagger import action_of

    assert action_of(message) == action


def test_flagger_is_unsupported_for_webhooks_only_where_it_cannot_reach_the_receivers():
    assert "webhooks" in unsupported_features("kind")
    assert "webhooks" in unsupported_features("kubeconfig")
    assert "webhooks" not in unsupported_features("k8s-local")
    assert "shipper" in unsupported_features("k8s-local")
