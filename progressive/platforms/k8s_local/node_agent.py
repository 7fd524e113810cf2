"""The node agent: the kubelet's job, done with local processes (k8s-local platform).

    python -m progressive.platforms.k8s_local.node_agent --kubeconfig K --state-dir S

It registers one Node (allocatable cpu, memory and pods; Ready, so the scheduler places pods
on it) and renews its Lease. Each pod bound to the node runs as a Croc Hunter process: the
image tag is the version, the env vars are the knobs (progressive/app/knobs.py reads them).

Pod addresses: Kubernetes refuses loopback addresses in Endpoints and EndpointSlices, so a pod
reports an IP of the node's podCIDR (10.244.0.0/16) and its process listens on the 1:1 mapped
loopback address (10.244.a.b -> 127.244.a.b) at the container port. Nothing ever dials the pod
range: `loopback_of` is the one translation, used here and by whoever reads an endpoint.

Probes run as the kubelet runs them (httpGet; initialDelaySeconds, periodSeconds,
timeoutSeconds, successThreshold, failureThreshold); a failed liveness probe or an exited
process restarts the container, with the kubelet's back-off (10 s doubling to 300 s, shown as
CrashLoopBackOff). An image that is not Croc Hunter leaves the pod waiting (ErrImagePull). A
deleted pod keeps serving for DRAIN_S (Istio's sidecar drains the same way), then its process
gets SIGTERM, then SIGKILL after its grace period, and the pod object is removed (grace 0), so
namespaces never hang in Terminating. Status is written whenever it
changes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import requests

from progressive import processes
from progressive.platforms.k8s_local.agents import parser, run_rounds, serve, wake_on_changes
from progressive.processes import ManagedProcess

NODE_NAME = "progressive-node"
POD_CIDR = "10.244.0.0/24"
APP_IMAGE = "croc-hunter"  # the image repository the agent can run
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
RENEW_EVERY_S = 10.0
SYNC_EVERY_S = 0.25  # how often probes and restarts are looked at (and status reported)
RELIST_EVERY_S = 2.0  # bound pods are listed on every watch event, and this often anyway
BACKOFF_START_S, BACKOFF_MAX_S = 10.0, 300.0
DEFAULT_GRACE_S = 30
# A deleted pod keeps serving this long before its SIGTERM, as Istio's sidecar drains (5 s by
# default): the gateway has time to take a replacement's endpoint (a Deployment deletes the old
# pod as soon as the new one is ready) before the old one stops answering.
DRAIN_S = 2.0


def loopback_of(pod_ip: str) -> str:
    """The loopback address a pod's process listens on: 10.244.a.b -> 127.244.a.b."""
    a, b, c, d = ipaddress.ip_address(pod_ip).packed
    if (a, b) != (10, 244):
        raise ValueError(f"{pod_ip} is not in the pod range 10.244.0.0/16")
    return f"127.244.{c}.{d}"


def version_of(image: str) -> str | None:
    """The Croc Hunter version an image names (`croc-hunter:v2` -> v2), None for another image."""
    name, _, tag = image.rpartition(":")
    if "/" in tag or not name:
        return None
    repo = name.rsplit("/", 1)[-1]
    return tag if repo == APP_IMAGE and tag else None


@dataclass
class Probe:
    path: str
    port: int
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0

    @classmethod
    def from_spec(cls, spec: dict | None, container_port: int) -> Probe | None:
        if not spec or "httpGet" not in spec:
            return None
        get = spec["httpGet"]
        port = get.get("port", container_port)
        return cls(path=get.get("path", "/"),
                   port=int(port) if str(port).isdigit() else container_port,
                   initial_delay_s=float(spec.get("initialDelaySeconds", 0)),
                   period_s=float(spec.get("periodSeconds", 10)),
                   timeout_s=float(spec.get("timeoutSeconds", 1)),
                   success_threshold=int(spec.get("successThreshold", 1)),
                   failure_threshold=int(spec.get("failureThreshold", 3)))

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, now: float) -> None:
        self.next_at = now + self.period_s
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1


@dataclass
class Container:
    """One pod's one container, as the agent runs it."""

    namespace: str
    pod: str
    uid: str
    name: str
    image: str
    version: str | None
    env: dict[str, str]
    port: int
    pod_ip: str
    readiness: Probe | None
    liveness: Probe | None
    grace_s: float
    process: ManagedProcess | None = None
    started_at: float = 0.0
    restarts: int = 0
    ready: bool = False
    backoff_until: float = 0.0
    backoff_s: float = BACKOFF_START_S
    last_exit: int | None = None
    reported: dict = field(default_factory=dict)
    drain_until: float | None = None  # deleted: serving until then, then SIGTERM
    drain_grace_s: float = 0.0

    @property
    def proc_name(self) -> str:
        return f"pod-{self.namespace}-{self.pod}-{self.restarts}"

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


class NodeAgent:
    def __init__(self, kubeconfig: Path, state_dir: Path, node: str = NODE_NAME):
        from kubernetes import client, config

        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)
        self.state_dir = Path(state_dir)
        self.node = node
        self.containers: dict[str, Container] = {}  # by pod uid
        self.free_ips = [str(ip) for ip in ipaddress.ip_network(POD_CIDR).hosts()][1:]
        self.stop = threading.Event()
        self.session = requests.Session()
        self.session.trust_env = False

    # -- the node -------------------------------------------------------------------------

    def register(self) -> None:
        from kubernetes.client.exceptions import ApiException

        body: Any = {"apiVersion": "v1", "kind": "Node",  # the client takes plain dicts too
                "metadata": {"name": self.node,
                             "labels": {"kubernetes.io/hostname": self.node,
                                        "kubernetes.io/os": "linux"}},
                "spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}}
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._node_status()
        self._renew_lease()

    def _node_status(self) -> None:
        now = _now()
        resources = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "50Gi"}
        status = {"status": {
            "capacity": resources, "allocatable": resources,
            "addresses": [{"type": "InternalIP", "address": processes.LOOPBACK},
                          {"type": "Hostname", "address": self.node}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "AgentReady",
                            "message": "progressive node agent", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": "progressive", "containerRuntimeVersion": "process://",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "kernelVersion": "", "osImage": "", "kubeProxyVersion": "",
                         "machineID": "", "systemUUID": "", "bootID": ""}}}
        self.core.patch_node_status(self.node, status)

    def _renew_lease(self) -> None:
        from kubernetes.client.exceptions import ApiException

        body: Any = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node, "namespace": LEASE_NAMESPACE},
                "spec": {"holderIdentity": self.node, "leaseDurationSeconds": LEASE_SECONDS,
                         "renewTime": _now(micro=True)}}
        try:
            self.coordination.patch_namespaced_lease(self.node, LEASE_NAMESPACE, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease(LEASE_NAMESPACE, body)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Pods are listed when the watch says one changed (or every RELIST_EVERY_S); probes,
        restarts and status reports run every SYNC_EVERY_S on the pods already known, so that
        the API server is not listed four times a second."""
        self.register()
        now = time.monotonic()
        renew_at, relist_at = now + RENEW_EVERY_S, now
        changed = threading.Event()  # a pod bound here, or deleted: act at once

        def round_() -> None:
            nonlocal renew_at, relist_at
            now = time.monotonic()
            if changed.is_set() or now >= relist_at:
                changed.clear()
                relist_at = now + RELIST_EVERY_S
                self.sync()
            else:
                self.tend_known()
            if now >= renew_at:
                self._renew_lease()
                self._node_status()
                renew_at = now + RENEW_EVERY_S

        wake = threading.Event()
        wake_on_changes(self.stop, wake, [(self.core.list_pod_for_all_namespaces, ())],
                        field_selector=f"spec.nodeName={self.node}", also=changed)
        run_rounds(self.stop, wake, SYNC_EVERY_S, round_, "node agent")
        for c in list(self.containers.values()):
            self._kill(c, grace_s=min(c.grace_s, 5.0))

    def sync(self) -> None:
        pods = self.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={self.node}").to_dict()["items"]
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            if pod["metadata"].get("deletion_timestamp"):
                self._delete(pod)
                continue
            container = self.containers.get(uid) or self._admit(pod)
            if container is not None:
                self._tend(container)
                self._report(container)
        for uid in set(self.containers) - seen:  # gone without us (force-deleted)
            self._kill(self.containers.pop(uid), grace_s=0)

    def tend_known(self) -> None:
        """Probes, restarts and status reports of the pods already admitted (no listing)."""
        for c in list(self.containers.values()):
            if c.drain_until is not None:
                if time.monotonic() >= c.drain_until:
                    self._remove(c)
                continue
            self._tend(c)
            self._report(c)

    def _admit(self, pod: dict) -> Container | None:
        spec = pod["spec"]
        if spec.get("host_network") or not spec.get("containers"):
            return None
        c = spec["containers"][0]
        port = int(((c.get("ports") or [{}])[0]).get("container_port") or 8080)
        env = {e["name"]: e.get("value") or "" for e in (c.get("env") or []) if "name" in e}
        ip = self.free_ips.pop(0)
        container = Container(
            namespace=pod["metadata"]["namespace"], pod=pod["metadata"]["name"],
            uid=pod["metadata"]["uid"], name=c["name"], image=c.get("image", ""),
            version=version_of(c.get("image", "")), env=env, port=port, pod_ip=ip,
            readiness=Probe.from_spec(_camel(c.get("readiness_probe")), port),
            liveness=Probe.from_spec(_camel(c.get("liveness_probe")), port),
            grace_s=float(spec.get("termination_grace_period_seconds") or DEFAULT_GRACE_S))
        self.containers[container.uid] = container
        return container

    def _tend(self, c: Container) -> None:
        now = time.monotonic()
        if c.version is None:
            return  # ErrImagePull: reported, never started
        if not c.alive():
            if c.process is not None:  # it ran and exited: back off before the restart
                c.last_exit = _exit_code(c.process)
                c.process = None
                c.ready = False
                c.backoff_until = now + c.backoff_s
                c.backoff_s = min(BACKOFF_MAX_S, c.backoff_s * 2)
                c.restarts += 1
            if now >= c.backoff_until:
                self._start(c)
            return
        if c.liveness is not None and now - c.started_at >= c.liveness.initial_delay_s \
                and c.liveness.due(now):
            c.liveness.record(self._probe(c, c.liveness), now)
            if c.liveness.failures >= c.liveness.failure_threshold:
                self._kill(c, grace_s=min(c.grace_s, 5.0))  # restarted next round
                return
        if c.readiness is None:
            c.ready = True
        elif now - c.started_at >= c.readiness.initial_delay_s and c.readiness.due(now):
            c.readiness.record(self._probe(c, c.readiness), now)
            if c.readiness.successes >= c.readiness.success_threshold:
                c.ready = True
            elif c.readiness.failures >= c.readiness.failure_threshold:
                c.ready = False

    def _start(self, c: Container) -> None:
        env = {**c.env, "CROC_VERSION": c.env.get("CROC_VERSION") or str(c.version)}
        argv = [sys.executable, "-m", "progressive.app", "--host", loopback_of(c.pod_ip),
                "--port", str(c.port)]
        c.process = processes.start_process(c.proc_name, argv, self.state_dir, env=env,
                                            die_with_parent=True)
        c.started_at = time.monotonic()
        for probe in (c.readiness, c.liveness):
            if probe is not None:
                probe.successes = probe.failures = 0
                probe.next_at = c.started_at + probe.initial_delay_s

    def _probe(self, c: Container, probe: Probe) -> bool:
        url = f"http://{loopback_of(c.pod_ip)}:{probe.port}{probe.path}"
        try:
            return 200 <= self.session.get(url, timeout=probe.timeout_s).status_code < 400
        except requests.RequestException:
            return False

    def _kill(self, c: Container, grace_s: float) -> None:
        if c.process is not None:
            c.process.stop(timeout=grace_s)
        c.ready = False

    def _delete(self, pod: dict) -> None:
        """A pod being deleted: drained (DRAIN_S), then its process stopped within its grace
        period and the object removed."""
        meta = pod["metadata"]
        c = self.containers.get(meta["uid"])
        if c is None:  # not (or no longer) running here
            self._remove_pod(meta["uid"], meta["name"], meta["namespace"])
            return
        if c.drain_until is None and c.alive():
            c.drain_until = time.monotonic() + DRAIN_S
            c.drain_grace_s = min(c.grace_s, float(meta.get("deletion_grace_period_seconds")
                                                   or c.grace_s))
        if c.drain_until is None or time.monotonic() >= c.drain_until:
            self._remove(c)

    def _remove(self, c: Container) -> None:
        self.containers.pop(c.uid, None)
        self._kill(c, grace_s=c.drain_grace_s)
        self.free_ips.append(c.pod_ip)
        self._remove_pod(c.uid, c.pod, c.namespace)

    def _remove_pod(self, uid: str, name: str, namespace: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            # Grace 0 in the body: with a body, the API server ignores the query's
            # gracePeriodSeconds, and the pod would stay Terminating, counted on the node.
            self.core.delete_namespaced_pod(name, namespace,
                                            body=cast(Any, {"gracePeriodSeconds": 0,
                                                            "preconditions": {"uid": uid}}))
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def _report(self, c: Container) -> None:
        status = _status(c)
        if status == c.reported:
            return
        self.core.patch_namespaced_pod_status(c.pod, c.namespace, {"status": status})
        c.reported = status


def _status(c: Container) -> dict:
    """The pod status the kubelet would write (without timestamps that change every round)."""
    running = c.alive()
    if c.version is None:
        state = {"waiting": {"reason": "ErrImagePull",
                             "message": f"image {c.image!r} is not {APP_IMAGE}:<version>: the "
                                        "k8s-local node runs Croc Hunter images only"}}
    elif running:
        state = {"running": {"startedAt": _stamp(c.started_at)}}
    elif c.restarts:
        state = {"waiting": {"reason": "CrashLoopBackOff",
                             "message": f"back-off restarting failed container {c.name} "
                                        f"(exit code {c.last_exit})"}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    ready = running and c.ready
    condition = "True" if ready else "False"
    return {
        "phase": "Running" if running else "Pending",
        "hostIP": processes.LOOPBACK,
        "podIP": c.pod_ip, "podIPs": [{"ip": c.pod_ip}],
        "conditions": [{"type": "PodScheduled", "status": "True"},
                       {"type": "Initialized", "status": "True"},
                       {"type": "ContainersReady", "status": condition},
                       {"type": "Ready", "status": condition}],
        "containerStatuses": [{"name": c.name, "image": c.image, "imageID": c.image,
                               "ready": ready, "started": running, "restartCount": c.restarts,
                               "state": state}],
    }


_START = time.time() - time.monotonic()


def _stamp(monotonic: float) -> str:
    return dt.datetime.fromtimestamp(_START + monotonic, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _now(micro: bool = False) -> str:
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ"
    return dt.datetime.now(dt.timezone.utc).strftime(fmt)


def _exit_code(process: ManagedProcess) -> int | None:
    return process.popen.returncode if process.popen is not None else None


def _camel(probe: dict | None) -> dict | None:
    """A probe of the client's snake_case dict, in the API's camelCase keys."""
    if not probe:
        return None
    get = probe.get("http_get")
    out = {"initialDelaySeconds": probe.get("initial_delay_seconds") or 0,
           "periodSeconds": probe.get("period_seconds") or 10,
           "timeoutSeconds": probe.get("timeout_seconds") or 1,
           "successThreshold": probe.get("success_threshold") or 1,
           "failureThreshold": probe.get("failure_threshold") or 3}
    if get:
        out["httpGet"] = {"path": get.get("path") or "/", "port": get.get("port")}
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser("node_agent")
    p.add_argument("--node", default=NODE_NAME)
    args = p.parse_args(argv)
    return serve(NodeAgent(args.kubeconfig, args.state_dir, args.node))


if __name__ == "__main__":
    sys.exit(main())
