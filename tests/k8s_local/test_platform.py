"""The k8s-local platform as a user runs it: `progressive up --platform k8s-local`, the cluster
code against it (Deployments, Services, VirtualServices through the mesh agent), and `down`.

One platform serves the module (started by the CLI, as a user would, and stopped by it). Traffic
shares are judged with an exact binomial acceptance region at false-alarm 1e-4.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys

import psutil
import pytest
import requests
from k8s_local_support import APP_START_S, CONTROLLERS_S, tools_built

from progressive.kube import KubeObjects, create_or_merge_patch
from progressive.platforms.k8s_local.mesh_agent import SYNC_EVERY_S
from progressive.platforms.k8s_local.node_agent import DRAIN_S, loopback_of
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.processes import recorded_processes
from progressive.stats import acceptance_interval
from progressive.waiting import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not tools_built(), reason="the k8s-local tools are not built: "
                                 "`progressive tools install` (needs Go 1.25+)")]

APP_HOST = "croc-hunter.progressive.test"
NS = "wire"
ALPHA = 1e-4
SPLIT_REQUESTS = 2000  # 10% +/- about 2 points at this false-alarm rate
PROBE_PERIOD_S = 1
UP_BOUND_S = 120.0  # control plane, CRDs, Croc Hunter's 3 replicas, on a loaded machine


def progressive(*args: str, timeout: float = UP_BOUND_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    state = tmp_path_factory.mktemp("k8s-local-cli") / "state"
    done = progressive("up", "--platform", "k8s-local", "--state-dir", str(state))
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        info = json.loads((state / "platform.json").read_text())
        from kubernetes.config import new_client_from_config

        api = new_client_from_config(config_file=str(state / "kubeconfig"))
        yield state, info, api, KubeObjects(api)
    finally:
        pids = [r["pid"] for r in recorded_processes(state)]
        down = progressive("down", "--state-dir", str(state))
        assert down.returncode == 0, down.stderr
        left = [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert left == [], f"processes left after down: {left}"


def get(info: dict, host: str, headers: dict | None = None) -> requests.Response:
    return requests.get(info["gateway_url"] + "/", headers={"Host": host, **(headers or {})},
                        timeout=APP_START_S)


def ready_pods(objects, namespace: str) -> list[dict]:
    return [p for p in objects.list("v1", "Pod", namespace)
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in (p.get("status") or {}).get("conditions") or [])]


def test_up_serves_croc_hunter_v1_and_kubectl_sees_its_pods(platform):
    state, info, _, objects = platform
    # `up` returned once the gateway served; on a loaded machine a probe of 2 s may still
    # time out once: the three replicas are awaited, bounded by their probes' failure budget.
    wait_until(lambda: len(ready_pods(objects, "croc-hunter")) == 3, timeout=CONTROLLERS_S,
               what="Croc Hunter's 3 replicas to be Ready")
    assert get(info, APP_HOST).headers["X-Version"] == "v1"
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "--kubeconfig", str(state / "kubeconfig"), "get",
                              "pods", "-A"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.count("Running") >= 3, out.stderr


def test_status_lists_the_deployments_as_the_api_server_reports_them(platform):
    state, info, _, objects = platform
    wait_until(lambda: len(ready_pods(objects, "croc-hunter")) == 3, timeout=CONTROLLERS_S,
               what="Croc Hunter's 3 replicas to be Ready")
    done = progressive("status", "--state-dir", str(state), "--json", timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(done.stdout)
    assert status["platform"] == "k8s-local" and status["gateway_url"] == info["gateway_url"]
    app = status["workloads"]["croc-hunter/croc-hunter"]
    assert (app["version"], app["replicas"], app["ready"]) == ("v1", 3, 3), app
    assert app["ports"] and "kube-system" not in " ".join(status["workloads"])
    plain = progressive("status", "--state-dir", str(state), timeout=30)
    assert "croc-hunter/croc-hunter" in plain.stdout and "kubeconfig" in plain.stdout


def test_endpoint_slices_list_the_ready_pods_and_nothing_dials_the_pod_range(platform):
    state, _, _, objects = platform

    def slices_match_ready_pods() -> set[str] | None:
        ready_ips = {p["status"]["podIP"] for p in ready_pods(objects, "croc-hunter")}
        slices = objects.list("discovery.k8s.io/v1", "EndpointSlice", "croc-hunter",
                              label_selector="kubernetes.io/service-name=croc-hunter")
        listed = {a for s in slices for e in s.get("endpoints") or []
                  if e["conditions"].get("ready") for a in e["addresses"]}
        return listed if listed == ready_ips and len(listed) == 3 else None

    listed = wait_until(slices_match_ready_pods, timeout=CONTROLLERS_S,
                        what="the EndpointSlice to list the 3 ready pods")
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.244.0.0/16")
               for ip in listed)
    gateway = EnvoyGateway.attach(state)
    dialed = {h for eps in gateway.cluster_endpoints().values() for h, _ in eps}
    assert dialed and all(ipaddress.ip_address(h).is_loopback for h in dialed), dialed
    targets = json.loads(requests.get(f"{platform[1]['prometheus_url']}/api/v1/targets",
                                      timeout=5).text)["data"]["activeTargets"]
    assert targets and all(ipaddress.ip_address(t["labels"]["instance"].rsplit(":", 1)[0])
                           .is_loopback for t in targets)


def _app(objects, name: str, version: str) -> None:
    create_or_merge_patch(objects, {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": NS}})
    create_or_merge_patch(objects, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "app", "image": f"croc-hunter:{version}",
                                     "ports": [{"containerPort": 8080}],
                                     "readinessProbe": {
                                         "httpGet": {"path": "/healthz", "port": 8080},
                                         "periodSeconds": PROBE_PERIOD_S,
                                         "timeoutSeconds": 1, "failureThreshold": 1}}]}}}})
    create_or_merge_patch(objects, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})


@pytest.fixture(scope="module")
def two_versions(platform):
    _, info, _, objects = platform
    _app(objects, "stable", "v1")
    _app(objects, "preview", "v2")
    route = [{"destination": {"host": f"stable.{NS}.svc.cluster.local"}, "weight": 90},
             {"destination": {"host": f"preview.{NS}.svc.cluster.local"}, "weight": 10}]
    create_or_merge_patch(objects, {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "split", "namespace": NS},
        "spec": {"hosts": ["split.progressive.test"], "http": [
            {"match": [{"headers": {"x-preview": {"exact": "yes"}}}],
             "route": [{"destination": {"host": f"preview.{NS}.svc.cluster.local"}}]},
            {"route": route}]}})

    def both_serve() -> bool:
        versions = {get(info, "split.progressive.test").headers.get("X-Version")
                    for _ in range(100)}
        return versions == {"v1", "v2"}

    wait_until(both_serve, timeout=CONTROLLERS_S + APP_START_S,
               what="the 90/10 VirtualService to serve both versions")
    return info


def test_a_90_10_virtual_service_splits_traffic_on_the_wire(two_versions):
    session = requests.Session()
    session.trust_env = False
    answers = [session.get(two_versions["gateway_url"] + "/",
                           headers={"Host": "split.progressive.test"},
                           timeout=APP_START_S).headers.get("X-Version")
               for _ in range(SPLIT_REQUESTS)]
    lo, hi = acceptance_interval(SPLIT_REQUESTS, 0.10, ALPHA)
    assert lo <= answers.count("v2") <= hi, f"{answers.count('v2')} of {SPLIT_REQUESTS} to v2"
    assert answers.count("v1") + answers.count("v2") == SPLIT_REQUESTS


def test_a_header_route_sends_every_matching_request_to_the_preview(two_versions):
    answers = {get(two_versions, "split.progressive.test", {"x-preview": "yes"})
               .headers.get("X-Version") for _ in range(200)}
    assert answers == {"v2"}


def test_a_pod_that_turns_not_ready_leaves_the_gateway_within_two_probe_periods(platform,
                                                                                 two_versions):
    state, _, _, objects = platform
    (pod,) = [p for p in objects.list("v1", "Pod", NS, label_selector="app=preview")
              if not p["metadata"].get("deletionTimestamp")]
    address = loopback_of(pod["status"]["podIP"])
    gateway = EnvoyGateway.attach(state)
    record = next(r for r in recorded_processes(state)
                  if r["name"].startswith(f"pod-{NS}-{pod['metadata']['name']}"))
    os.kill(record["pid"], signal.SIGSTOP)  # it stops answering its probe
    try:
        def not_ready() -> bool:
            p = objects.get("v1", "Pod", pod["metadata"]["name"], NS) or {}
            return any(c["type"] == "Ready" and c["status"] == "False"
                       for c in (p.get("status") or {}).get("conditions") or [])

        wait_until(not_ready, timeout=CONTROLLERS_S, what="the pod to be reported not ready",
                   poll=0.05, max_poll=0.05)
        import time

        changed = time.monotonic()
        wait_until(lambda: address not in {h for eps in gateway.cluster_endpoints().values()
                                           for h, _ in eps},
                   timeout=CONTROLLERS_S, what="the gateway to drop the pod", poll=0.05,
                   max_poll=0.05)
        took = time.monotonic() - changed
        assert took <= 2 * PROBE_PERIOD_S + SYNC_EVERY_S, f"left the gateway after {took:.2f} s"
    finally:
        os.kill(record["pid"], signal.SIGCONT)


def test_a_deleted_pod_leaves_the_gateway_while_it_still_answers(platform, two_versions):
    """The node agent drains a deleted pod (DRAIN_S) before its SIGTERM: the gateway drops its
    endpoint first, so a rolling update never sends a request to a closed port."""
    state, _, _, objects = platform
    (pod,) = [p for p in objects.list("v1", "Pod", NS, label_selector="app=stable")
              if not p["metadata"].get("deletionTimestamp")]
    address = loopback_of(pod["status"]["podIP"])
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    gateway = EnvoyGateway.attach(state)
    objects.delete("v1", "Pod", pod["metadata"]["name"], NS)
    wait_until(lambda: address not in {h for eps in gateway.cluster_endpoints().values()
                                       for h, _ in eps},
               timeout=CONTROLLERS_S, what="the gateway to drop the deleted pod", poll=0.05,
               max_poll=0.05)
    try:
        status = requests.get(f"http://{address}:{port}/healthz", timeout=APP_START_S).status_code
    except requests.ConnectionError as exc:
        status = repr(exc)
    assert status == 200, f"the pod stopped before the gateway dropped it: {status}"
    wait_until(lambda: objects.get("v1", "Pod", pod["metadata"]["name"], NS) is None,
               timeout=DRAIN_S + CONTROLLERS_S, what="the drained pod to be removed")


def test_a_virtual_service_the_gateway_cannot_serve_gets_a_warning_event(platform):
    _, _, _, objects = platform
    create_or_merge_patch(objects, {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "subsets", "namespace": NS},
        "spec": {"hosts": ["subsets.progressive.test"], "http": [{"route": [
            {"destination": {"host": f"stable.{NS}.svc.cluster.local", "subset": "v1"}}]}]}})

    def warning() -> str | None:
        events = objects.list("v1", "Event", NS, field_selector="involvedObject.name=subsets")
        return next((e["message"] for e in events if e.get("reason") == "UnsupportedByGateway"),
                    None)

    message = wait_until(warning, timeout=CONTROLLERS_S, what="a warning event on the object")
    assert "subset" in message


def test_a_kubernetes_release_not_built_is_named_with_how_to_build_it(tmp_path):
    up = progressive("up", "--platform", "k8s-local", "--kubernetes-version", "1.30.99",
                     "--state-dir", str(tmp_path / "state"), timeout=60)
    assert up.returncode == 2 and "Traceback" not in up.stderr, up.stderr
    assert "tools install --kubernetes-version 1.30.99" in up.stderr, up.stderr
    assert "k8s-1.30.99" in up.stderr
    assert recorded_processes(tmp_path / "state") == []  # nothing was started
    wrong = progressive("conformance", "--platform", "local", "--kubernetes-version", "1.36.3",
                        timeout=60)
    assert wrong.returncode == 2 and "k8s-local" in wrong.stderr, wrong.stderr


def test_missing_crds_are_named_with_how_to_get_them(tmp_path):
    from progressive.errors import MissingBinary
    from progressive.platforms.k8s_local.platform import crd_files

    with pytest.raises(MissingBinary, match="progressive tools install"):
        crd_files(tools=tmp_path)


def test_a_port_taken_under_the_api_server_fails_its_start_and_leaves_nothing(tmp_path,
                                                                              monkeypatch):
    import socket

    from progressive.platforms.k8s_local import control_plane
    from progressive.platforms.k8s_local.control_plane import ControlPlane, ControlPlaneFailed

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free = control_plane.free_port
        # etcd, etcd's peers, the API server (taken), the controller-manager, the scheduler
        ports = iter([free(), free(), taken.getsockname()[1], free(), free()])
        monkeypatch.setattr(control_plane, "free_port", lambda: next(ports))
        plane = ControlPlane(tmp_path)
        with pytest.raises(ControlPlaneFailed, match="kube-apiserver"):
            plane.start()
    assert recorded_processes(tmp_path) == []

