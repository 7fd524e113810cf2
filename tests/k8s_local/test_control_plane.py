"""The k8s-local control plane and node agent, for real: etcd, kube-apiserver, the controllers
and the scheduler built from source (`progressive tools install`), pods run as Croc Hunter
processes by the node agent.

Bounds come from what they wait for: a pod is Ready within its readiness probe's period (plus
the agent's sync period and the app's start on a loaded machine); the controllers' reaction
adds a few of their sync loops.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
import requests
from k8s_local_support import (
    APP_START_S,
    CONTROLLERS_S,
    NAMESPACE,
    deployment,
    pods_of,
    ready_pods,
    service,
    tools_built,
)

from progressive.platforms.k8s_local.control_plane import ControlPlane
from progressive.platforms.k8s_local.node_agent import NODE_NAME, SYNC_EVERY_S, loopback_of
from progressive.processes import recorded_processes, start_process, stop_all_recorded
from progressive.waiting import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not tools_built(), reason="the k8s-local tools are not built: "
                                 "`progressive tools install` (needs Go 1.25+)")]

READINESS_PERIOD_S = 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[ControlPlane, object]]:
    from kubernetes import client, config

    state = tmp_path_factory.mktemp("k8s-local")
    plane = ControlPlane(state)
    try:
        plane.start()
        start_process("node-agent", [sys.executable, "-m",
                                     "progressive.platforms.k8s_local.node_agent",
                                     "--kubeconfig", str(plane.kubeconfig),
                                     "--state-dir", str(state)], state)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        core = client.CoreV1Api(api)
        wait_until(lambda: _node_ready(core), timeout=CONTROLLERS_S, what="the node to be Ready")
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        yield plane, api
    finally:
        plane.stop()
        stop_all_recorded(state)


def _node_ready(core) -> bool:
    node = core.read_node(NODE_NAME).to_dict()
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in node["status"]["conditions"] or [])


def test_the_control_plane_answers_with_the_pinned_version_and_stops_without_a_trace(tmp_path):
    from kubernetes import client, config

    plane = ControlPlane(tmp_path)
    plane.start()
    try:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        assert client.VersionApi(api).get_code().git_version.startswith("v1.")
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        assert {"default", "kube-system"} <= names
        out = subprocess.run(["kubectl", "--kubeconfig", str(plane.kubeconfig), "get", "ns"],
                             capture_output=True, text=True, timeout=30) \
            if _has_kubectl() else None
        assert out is None or out.returncode == 0, out.stderr if out else ""
        pids = [r["pid"] for r in recorded_processes(tmp_path)]
        assert len(pids) == 4
    finally:
        plane.stop()
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    for port in plane.ports.values():
        assert not any(c.laddr.port == port and c.status == psutil.CONN_LISTEN
                       for c in psutil.net_connections("tcp"))


def test_every_component_listens_on_loopback_only(cluster):
    plane, _ = cluster
    pids = {r["pid"] for r in recorded_processes(plane.state_dir)}
    listening = [c for c in psutil.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert listening and all(c.laddr.ip.startswith("127.") for c in listening), listening


def test_a_pod_becomes_ready_and_its_endpoint_slice_names_its_pod_ip(cluster):
    _, api = cluster
    deployment(api, "web", "v1", replicas=1, readiness_period_s=READINESS_PERIOD_S)
    service(api, "web")
    bound = READINESS_PERIOD_S + SYNC_EVERY_S + APP_START_S
    (pod,) = wait_until(lambda: ready_pods(api, "web") or None,
                        timeout=CONTROLLERS_S + bound, what="web's pod to be Ready")
    ip = pod["status"]["podIP"]
    assert ip.startswith("10.244."), ip
    answer = requests.get(f"http://{loopback_of(ip)}:8080/", timeout=APP_START_S)
    assert answer.headers["X-Version"] == "v1"

    def slice_endpoints():
        from kubernetes import client

        slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            NAMESPACE, label_selector="kubernetes.io/service-name=web").items
        return [(a, e.conditions.ready) for s in slices for e in (s.endpoints or [])
                for a in e.addresses]

    assert wait_until(lambda: slice_endpoints() == [(ip, True)], timeout=CONTROLLERS_S,
                      what="web's EndpointSlice to list its ready pod")


def test_a_never_ready_pod_runs_but_is_not_ready(cluster):
    _, api = cluster
    deployment(api, "stuck", "v1", env={"CROC_NEVER_READY": "true"},
               readiness_period_s=READINESS_PERIOD_S)
    (pod,) = wait_until(lambda: [p for p in pods_of(api, "stuck")
                                 if p["status"].get("phase") == "Running"] or None,
                        timeout=CONTROLLERS_S + APP_START_S, what="stuck's pod to run")
    failing = 3 * READINESS_PERIOD_S + SYNC_EVERY_S  # the probe's failure threshold
    wait_until(lambda: pods_of(api, "stuck")[0]["status"]["containerStatuses"][0]["ready"]
               is False, timeout=failing + APP_START_S, what="stuck to be reported not ready")
    assert ready_pods(api, "stuck") == []


def test_a_crashing_container_backs_off_and_counts_restarts(cluster):
    _, api = cluster
    deployment(api, "crash", "v1", env={"CROC_ERROR_RATE": "2"})  # a bad knob: exits at start

    def waiting_reason():
        pods = pods_of(api, "crash")
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        if not statuses:
            return None
        s = statuses[0]
        return (s["state"].get("waiting") or {}).get("reason"), s["restartCount"]

    reason, restarts = wait_until(lambda: (w := waiting_reason()) and w[1] >= 1 and w,
                                  timeout=CONTROLLERS_S + 2 * APP_START_S,
                                  what="crash to be restarted once")
    assert reason == "CrashLoopBackOff" and restarts >= 1


def test_an_image_the_node_cannot_run_waits_with_err_image_pull(cluster):
    _, api = cluster
    deployment(api, "nginx", "v1", image="nginx:1.27")

    def reason():
        pods = pods_of(api, "nginx")
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return statuses and (statuses[0]["state"].get("waiting") or {}).get("reason")

    assert wait_until(reason, timeout=CONTROLLERS_S, what="nginx's pod status") == "ErrImagePull"


def test_scale_to_zero_stops_the_processes_and_back_to_three_serves_again(cluster):
    from kubernetes import client

    _, api = cluster
    apps = client.AppsV1Api(api)
    deployment(api, "scale", "v2", replicas=3, readiness_period_s=READINESS_PERIOD_S)
    bound = CONTROLLERS_S + READINESS_PERIOD_S + APP_START_S
    wait_until(lambda: len(ready_pods(api, "scale")) == 3, timeout=bound, what="3 ready pods")
    for replicas in (0, 3):
        apps.patch_namespaced_deployment_scale("scale", NAMESPACE,
                                               {"spec": {"replicas": replicas}})
        wait_until(lambda r=replicas: len(pods_of(api, "scale")) == r
                   and len(ready_pods(api, "scale")) == r, timeout=bound,
                   what=f"scale to {replicas}")
        if replicas == 0:  # stopped, then removed: no pod object is left Terminating
            wait_until(lambda: not pods_of(api, "scale", terminating=True), timeout=bound,
                       what="the deleted pods' objects to be removed")
    for pod in ready_pods(api, "scale"):
        answer = requests.get(f"http://{loopback_of(pod['status']['podIP'])}:8080/",
                              timeout=APP_START_S)
        assert answer.headers["X-Version"] == "v2"


def _has_kubectl() -> bool:
    import shutil

    return shutil.which("kubectl") is not None
