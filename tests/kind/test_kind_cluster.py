"""On a real kind cluster: bring-up, the Istio router on the live mesh, the cluster state store
and Flagger. Needs Docker, kind, kubectl, istioctl and a network; on a machine without them
every test here is skipped with the reason preflight() gives (this module never fakes them).
One cluster (`progressive-test`) serves the whole module and is deleted at the end.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from progressive.engine.state import CanaryState, Phase
from progressive.engines.flagger import FlaggerEngine
from progressive.platforms.kind import preflight
from progressive.platforms.kind.cluster import BOUNDS
from progressive.platforms.kind.manifests import APP_HOST
from progressive.platforms.kind.platform import KindPlatform
from progressive.routing.base import Routes
from progressive.stats import acceptance_interval
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

MISSING = preflight("kind")
pytestmark = [
    pytest.mark.kind,
    pytest.mark.integration,
    pytest.mark.skipif(bool(MISSING), reason="the kind platform cannot run here: "
                       + "; ".join(MISSING)),
]
REQUESTS = 2000  # per split check; with p = 0.1 the acceptance interval is about +/-2 points
ALPHA = 1e-4  # false-alarm probability of each split check


@pytest.fixture(scope="module")
def kind(tmp_path_factory):
    platform = KindPlatform(tmp_path_factory.mktemp("kind-state"), cluster_name="progressive-test")
    platform.up()
    try:
        yield platform
    finally:
        platform.down()


def _ready(workloads, *names: str) -> None:
    wait_until(lambda: all(workloads.is_ready(n).ready for n in names),
               timeout=BOUNDS["rollout"], max_poll=2.0,
               what=f"deployments {', '.join(names)} to be ready")


def test_the_gateway_serves_croc_hunter_from_the_host(kind):
    answer = requests.get(kind.gateway_url + "/healthz", headers={"Host": APP_HOST}, timeout=5)
    assert answer.status_code == 200


def test_a_canary_split_is_live_on_the_wire(kind, seed):
    canary = replace(seed, namespace="t-kind-split", hosts=("split.kind.example.com",))
    workloads = kind.workloads(canary.namespace)
    workloads.deploy(canary.primary_name, AppVersion("v1"), replicas=1)
    workloads.deploy(canary.canary_name, AppVersion("v2"), replicas=1)
    _ready(workloads, canary.primary_name, canary.canary_name)
    router = kind.router()
    router.reconcile(canary)
    try:
        router.set_routes(canary, 90, 10)
        assert router.get_routes(canary) == Routes(90, 10)
        session = requests.Session()
        host = {"Host": "split.kind.example.com"}
        # Istio applies a route within seconds; wait until the canary has answered once.
        wait_until(lambda: session.get(kind.gateway_url + "/", headers=host, timeout=5)
                   .headers.get("X-Version") == "v2", timeout=60, what="the canary to answer")
        versions = [session.get(kind.gateway_url + "/", headers=host, timeout=5)
                    .headers.get("X-Version") for _ in range(REQUESTS)]
        lo, hi = acceptance_interval(REQUESTS, 0.10, ALPHA)
        assert lo <= versions.count("v2") <= hi, (versions.count("v2"), lo, hi)
    finally:
        router.finalize(canary)


def test_prometheus_sees_the_mesh_request_metrics(kind):
    for _ in range(50):
        requests.get(kind.gateway_url + "/", headers={"Host": APP_HOST}, timeout=5)
    query = ('sum(istio_requests_total{reporter="destination",'
             'destination_workload="croc-hunter",destination_workload_namespace="croc-hunter"})')
    metrics = kind.metrics()
    wait_until(lambda: metrics.run_query(query) >= 50, timeout=60,
               what="Prometheus to count the 50 requests (1s scrapes)")


def test_the_engine_state_survives_in_the_cluster(kind):
    state = CanaryState(name="croc-hunter", namespace=kind.namespace, phase=Phase.PROGRESSING,
                        canary_weight=20, failed_checks=1)
    kind.state_store().save(state)
    assert kind.state_store().load(kind.namespace, "croc-hunter") == state


def test_flagger_initialises_the_seed_canary(kind, seed, tmp_path):
    canary = replace(seed, namespace="t-kind-flagger", hosts=("flagger.kind.example.com",))
    engine = FlaggerEngine(kind, tmp_path)
    try:
        engine.apply(canary, AppVersion("v1"))
        assert engine.status().phase == "Initialized"
        assert any(e["message"] for e in engine.events())
    finally:
        engine.close()
