"""Deployments as workloads: readiness as SEMANTICS.md reads it, deploy/scale through the API
seam (an in-memory double that merge-patches as the API server does), and the engine's state
kept in a ConfigMap."""

from __future__ import annotations

import pytest

from progressive.engine.state import CanaryState, Phase
from progressive.errors import UserError
from progressive.platforms.kind.state import ConfigMapStateStore, configmap_name
from progressive.workloads.base import AppVersion, Readiness
from progressive.workloads.kubernetes import (
    SPEC_HASH_ANNOTATION,
    DeploymentWorkloads,
    app_env,
    app_from_env,
    deployment_readiness,
    render_deployment,
)

NS = "t-workloads"


def deployment(generation=2, observed=2, replicas=3, updated=3, total=3, available=3,
               conditions=()) -> dict:
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "replicas": total, "availableReplicas": available,
                       "conditions": list(conditions)}}


DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}


@pytest.mark.parametrize(("doc", "ready", "retriable", "reason"), [
    (None, False, True, "does not exist"),
    (deployment(generation=3, observed=2), False, True, "spec update to be observed"),
    (deployment(updated=1, conditions=[DEADLINE]), False, False, "exceeded its progress deadline"),
    (deployment(updated=1, total=4), False, True, "1 of 3 new replicas updated"),
    (deployment(total=5), False, True, "2 old replicas pending termination"),
    (deployment(available=2), False, True, "2 of 3 updated replicas available"),
    (deployment(replicas=0, updated=0, total=0, available=0), True, True, "scaled to zero"),
    (deployment(), True, True, ""),
])
def test_readiness_follows_the_rollout(doc, ready, retriable, reason):
    got = deployment_readiness(doc, "croc-hunter")
    assert (got.ready, got.retriable) == (ready, retriable)
    assert reason in got.reason


def test_the_knobs_travel_as_environment_and_come_back():
    app = AppVersion("v3", commit="abc123", error_rate=0.1, latency_ms=800, crash_after=50,
                     never_ready=True, env={"POWERED_BY": "kind"})
    env = {e["name"]: e["value"] for e in app_env(app)}
    assert env == {"CROC_VERSION": "v3", "GIT_SHA": "abc123", "CROC_ERROR_RATE": "0.1",
                   "CROC_LATENCY_MS": "800", "CROC_CRASH_AFTER": "50", "CROC_NEVER_READY": "1",
                   "POWERED_BY": "kind"}
    assert app_from_env(app_env(app)) == app


class TestDeploymentWorkloads:
    @pytest.fixture
    def loaded(self) -> list[str]:
        return []

    @pytest.fixture
    def workloads(self, objects, loaded) -> DeploymentWorkloads:
        return DeploymentWorkloads(None, NS, objects=objects, labels={"progressive.dev/run": "r1"},
                                   ensure_image=loaded.append)

    def test_deploy_creates_namespace_deployment_and_service(self, workloads, objects, loaded):
        workloads.deploy("croc-hunter-primary", AppVersion("v1"))
        ns = objects.get("v1", "Namespace", NS)
        assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
        dep = objects.get("apps/v1", "Deployment", "croc-hunter-primary", NS)
        assert dep["spec"]["replicas"] == 3
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "croc-hunter:v1"
        assert dep["metadata"]["labels"]["progressive.dev/run"] == "r1"
        svc = objects.get("v1", "Service", "croc-hunter-primary", NS)
        assert svc["spec"]["ports"][0]["targetPort"] == 8080
        assert loaded == ["croc-hunter:v1"]  # the image is made available before it is used

    def test_a_new_version_is_a_patch_that_keeps_the_replica_count(self, workloads, objects):
        workloads.deploy("croc-hunter", AppVersion("v1"))
        workloads.scale("croc-hunter", 5)
        bad = AppVersion("v2", error_rate=0.1, latency_ms=800)
        workloads.deploy("croc-hunter", bad)
        dep = objects.get("apps/v1", "Deployment", "croc-hunter", NS)
        assert dep["metadata"]["generation"] == 3  # create, scale, new template
        assert workloads.replicas("croc-hunter") == 5
        assert workloads.app("croc-hunter") == bad
        assert workloads.spec_hash("croc-hunter") == bad.spec_hash()
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations[SPEC_HASH_ANNOTATION] == bad.spec_hash()

    def test_readiness_is_read_from_the_live_status(self, workloads, objects):
        workloads.deploy("croc-hunter", AppVersion("v1"), replicas=2)
        assert not workloads.is_ready("croc-hunter").ready  # no controller has reported yet
        objects.set_status("apps/v1", "Deployment", "croc-hunter", NS,
                           {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                            "availableReplicas": 2})
        assert workloads.is_ready("croc-hunter") == Readiness(True, True, "")
        assert workloads.spec_hash("nothing") is None and workloads.app("nothing") is None

    def test_stop_all_removes_only_what_this_run_made(self, workloads, objects):
        workloads.deploy("croc-hunter-primary", AppVersion("v1"))
        objects.create({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "theirs", "namespace": NS}, "spec": {}})
        workloads.stop_all()
        left = {(k, name) for (_, k, _, name) in objects.store}
        assert left == {("Namespace", NS), ("Deployment", "theirs")}

    def test_flagger_makes_its_own_services(self, objects):
        workloads = DeploymentWorkloads(None, NS, objects=objects, services=False)
        workloads.deploy("croc-hunter", AppVersion("v1"))
        assert objects.get("v1", "Service", "croc-hunter", NS) is None

    def test_a_namespace_that_is_not_ours_is_left_alone(self, objects):
        objects.create({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": NS, "labels": {"team": "payments"}}})
        DeploymentWorkloads(None, NS, objects=objects, adopt_namespace=False).deploy(
            "croc-hunter", AppVersion("v1"))
        assert objects.get("v1", "Namespace", NS)["metadata"]["labels"] == {"team": "payments"}
        DeploymentWorkloads(None, NS, objects=objects).deploy("croc-hunter", AppVersion("v1"))
        assert objects.get("v1", "Namespace", NS)["metadata"]["labels"] == {
            "team": "payments", "istio-injection": "enabled"}

    def test_a_version_that_cannot_be_an_image_tag_is_refused(self, workloads, objects):
        with pytest.raises(UserError, match="cannot be an image tag"):
            workloads.deploy("croc-hunter", AppVersion("v2 beta"))
        assert objects.store == {}

    def test_replicas_none_leaves_the_count_out_of_a_patch(self):
        doc = render_deployment("x", NS, AppVersion("v1"), image="croc-hunter:v1", replicas=None)
        assert "replicas" not in doc["spec"]


class TestConfigMapStateStore:
    def test_a_restarted_engine_reads_what_was_saved(self, objects):
        state = CanaryState(name="croc-hunter", namespace=NS, phase=Phase.PROGRESSING,
                            canary_weight=30, primary_weight=70, failed_checks=2,
                            last_applied_spec="abc")
        ConfigMapStateStore(objects, {"progressive.dev/run": "r1"}).save(state)
        state.canary_weight = 40
        ConfigMapStateStore(objects).save(state)  # the second save patches the same ConfigMap
        loaded = ConfigMapStateStore(objects).load(NS, "croc-hunter")
        assert loaded == state
        cm = objects.get("v1", "ConfigMap", configmap_name("croc-hunter"), NS)
        assert cm["metadata"]["name"] == "progressive-state-croc-hunter"
        assert cm["metadata"]["labels"]["progressive.dev/run"] == "r1"

    def test_nothing_saved_is_none(self, objects):
        assert ConfigMapStateStore(objects).load(NS, "croc-hunter") is None
