"""The mesh agent: istiod's job for the k8s-local platform's one Envoy gateway.

    python -m progressive.platforms.k8s_local.mesh_agent --kubeconfig K --state-dir S

As soon as a watched object changes (and every SYNC_EVERY_S) it reads Services,
EndpointSlices, Pods and VirtualServices, and configures the gateway the local platform's way
(file xDS, through EnvoyGateway and EnvoyRouter):

- a Service's cluster is named after the Deployment behind it (`NAMESPACE_DEPLOYMENT`, the
  name the recording rules turn into `destination_workload`, as Istio labels it: Flagger's
  `podinfo-canary` Service selects the pods of Deployment `podinfo`); its endpoints are the
  ready ones of its EndpointSlices, each mapped to the loopback address its process listens on
  (node_agent.loopback_of): nothing is ever sent to the pod range;
- a VirtualService becomes a virtual host through the same translator as on the local
  platform (weights, header matches, mirroring); its destination hosts resolve through their
  Services to those clusters. What the gateway cannot do is never dropped silently: it is a
  Warning event on the VirtualService (`kubectl describe` shows it) and the object is skipped;
- each Deployment's ready pods become Prometheus scrape targets.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from progressive.errors import InvalidSpec
from progressive.fsutil import atomic_write
from progressive.model.types import VirtualServiceSpec
from progressive.model.validate import parse_document
from progressive.platforms.k8s_local.agents import (
    parser,
    run_rounds,
    serve,
    wake_on_changes,
)
from progressive.platforms.k8s_local.node_agent import loopback_of
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.platforms.local.prometheus import PrometheusServer
from progressive.routing.envoy import EnvoyRouter
from progressive.routing.names import cluster_name
from progressive.routing.virtualservice import virtual_host_name

ISTIO_GROUP, ISTIO_VERSION = "networking.istio.io", "v1beta1"
SYNC_EVERY_S = 1.0  # a round on every watch event, and this often anyway (a missed event)
SERVICES_FILE = "mesh-services.json"  # (namespace/service -> cluster), for reading live routes


def read_service_clusters(state_dir: Path) -> dict[str, str]:
    """The mesh agent's last published `namespace/service -> cluster` map ({} before its first
    sync): what a destination host of a VirtualService resolves to on the gateway."""
    try:
        return json.loads((Path(state_dir) / SERVICES_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
CLUSTER_SUFFIX = ".svc.cluster.local"


def service_of_host(host: str, namespace: str) -> tuple[str, str]:
    """(namespace, service) a destination host names: `svc`, `svc.ns`, `svc.ns.svc...`."""
    parts = host.removesuffix(CLUSTER_SUFFIX).removesuffix(".svc").split(".")
    return (parts[1] if len(parts) > 1 else namespace), parts[0]


class Mesh:
    """One snapshot of the cluster's services, as the gateway needs them."""

    def __init__(self, services: list[dict], slices: list[dict], pods: list[dict]):
        deployment_of_pod = {(p["metadata"]["namespace"], p["metadata"]["name"]):
                             _deployment_of(p) for p in pods}
        self.workload: dict[tuple[str, str], str] = {}  # (ns, service) -> deployment
        self.endpoints: dict[str, list[tuple[str, int]]] = {}  # cluster -> ready endpoints
        self.targets: dict[tuple[str, str], list[str]] = {}  # (ns, deployment) -> host:port
        by_service: dict[tuple[str, str], list[dict]] = {}
        for s in slices:
            svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
            if svc:
                by_service.setdefault((s["metadata"]["namespace"], svc), []).append(s)
        for svc in services:
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            ready: list[tuple[str, int]] = []
            owners: set[str] = set()
            for s in by_service.get((ns, name), []):
                port = next((p.get("port") for p in s.get("ports") or [] if p.get("port")), None)
                for e in s.get("endpoints") or []:
                    ref = e.get("targetRef") or {}
                    owner = deployment_of_pod.get((ns, ref.get("name", "")))
                    if owner:
                        owners.add(owner)
                    if port and (e.get("conditions") or {}).get("ready"):
                        ready += [(loopback_of(a), int(port)) for a in e.get("addresses", [])]
            selector_app = ((svc.get("spec") or {}).get("selector") or {}).get("app")
            workload = owners.pop() if len(owners) == 1 else (selector_app or name)
            self.workload[(ns, name)] = workload
            cluster = cluster_name(ns, workload)
            self.endpoints[cluster] = sorted(set(self.endpoints.get(cluster, []) + ready))
            if ready:
                self.targets[(ns, workload)] = sorted({f"{h}:{p}" for h, p in ready})

    def cluster_of(self, host: str, namespace: str) -> str:
        ns, svc = service_of_host(host, namespace)
        return cluster_name(ns, self.workload.get((ns, svc), svc))


def _deployment_of(pod: dict) -> str | None:
    """The Deployment a pod belongs to: its ReplicaSet's name minus the pod-template-hash."""
    meta = pod["metadata"]
    rs = next((o["name"] for o in meta.get("ownerReferences") or []
               if o.get("kind") == "ReplicaSet"), None)
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if rs and template_hash and rs.endswith("-" + template_hash):
        return rs[: -len(template_hash) - 1]
    return None


class MeshAgent:
    def __init__(self, kubeconfig: Path, state_dir: Path):
        from kubernetes import client, config

        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.discovery = client.DiscoveryV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.gateway = EnvoyGateway.attach(state_dir)
        self.prometheus = PrometheusServer.attach(state_dir)
        self.router = EnvoyRouter(self.gateway, state_dir)
        self.state_dir = Path(state_dir)
        self._service_clusters: dict[str, str] = {}
        self.stop = threading.Event()
        self._applied: dict[str, tuple[str, dict]] = {}  # vhost -> (resourceVersion, clusters)
        self._services: dict[tuple[str, str], str] = {}
        self._first_seen: dict[str, int] = {}  # VirtualService uid -> order first seen
        self._reported: set[str] = set()  # uid/resourceVersion of VirtualServices warned about
        self._clusters: dict[str, list[tuple[str, int]]] | None = None
        self._targets: dict[tuple[str, str], list[str]] = {}

    @staticmethod
    def _items(list_fn, *args) -> list[dict]:
        """The listed objects as the API server's JSON (camelCase), without the client's model
        classes: building those is most of a round's time."""
        return json.loads(list_fn(*args, _preload_content=False).data)["items"]

    def sync(self) -> None:
        mesh = Mesh(self._items(self.core.list_service_for_all_namespaces),
                    self._items(self.discovery.list_endpoint_slice_for_all_namespaces),
                    self._items(self.core.list_pod_for_all_namespaces))
        if mesh.endpoints != self._clusters:
            self.gateway.set_clusters(mesh.endpoints)
            self._clusters = mesh.endpoints
        self._publish_targets(mesh)
        self._publish_services(mesh)
        listed: Any = self.custom.list_cluster_custom_object(ISTIO_GROUP, ISTIO_VERSION,
                                                             "virtualservices")
        # Oldest first: the newest VirtualService wins a host two of them claim, as the last
        # one applied does on the local platform.
        # (creationTimestamp has whole seconds: ties go by when this agent first saw each, then
        # by resourceVersion, which grows with every write to the cluster.)
        for d in listed["items"]:
            self._first_seen.setdefault(d["metadata"]["uid"], len(self._first_seen))
        docs = sorted(listed["items"], key=lambda d: (
            d["metadata"]["creationTimestamp"], self._first_seen[d["metadata"]["uid"]],
            int(d["metadata"]["resourceVersion"])))
        state = {virtual_host_name(d["metadata"]["namespace"], d["metadata"]["name"]):
                 (d["metadata"]["resourceVersion"],
                  {h: mesh.cluster_of(h, d["metadata"]["namespace"]) for h in _hosts(d)})
                 for d in docs}
        if state != self._applied:
            self._apply(docs, mesh, state)
        # A VirtualService for a Service's host replaces its default route, as in Istio.
        claimed = {service_of_host(h, d["metadata"]["namespace"])
                   for d in docs for h in (d.get("spec") or {}).get("hosts") or []}
        services = {key: mesh.cluster_of(key[1], key[0]) for key in mesh.workload
                    if key not in claimed}
        if services != self._services:
            self.router.serve_services(services)
            self._services = services

    def _apply(self, docs: list[dict], mesh: Mesh, state: dict) -> None:
        applied = {}
        for doc in docs:
            meta = doc["metadata"]
            key = virtual_host_name(meta["namespace"], meta["name"])
            try:
                spec = parse_document(_as_spec_document(doc), f"VirtualService {key}")
                if not isinstance(spec, VirtualServiceSpec):
                    continue
                self.router.apply_virtual_service(spec, _as_spec_document(doc), mesh.cluster_of)
            except InvalidSpec as exc:
                self._warn(doc, "; ".join(exc.problems))
                continue
            applied[key] = state[key]
        for key in set(self.router.virtual_hosts("virtual-service")) - set(applied):
            self.router.remove(*_split_vhost(key))
        self._applied = state  # what failed is not retried until it changes

    def _publish_targets(self, mesh: Mesh) -> None:
        for ns, workload in set(self._targets) | set(mesh.targets):
            addrs = mesh.targets.get((ns, workload), [])
            if self._targets.get((ns, workload)) != addrs:
                self.prometheus.set_app_targets(workload, ns, addrs)
        self._targets = dict(mesh.targets)

    def _publish_services(self, mesh: Mesh) -> None:
        clusters = {f"{ns}/{svc}": cluster_name(ns, workload)
                    for (ns, svc), workload in sorted(mesh.workload.items())}
        if clusters != self._service_clusters:
            atomic_write(self.state_dir / SERVICES_FILE, json.dumps(clusters, indent=1))
            self._service_clusters = clusters

    def _warn(self, doc: dict, message: str) -> None:
        meta = doc["metadata"]
        mark = f"{meta['uid']}/{meta['resourceVersion']}"
        if mark in self._reported:
            return
        self._reported.add(mark)
        event: Any = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
                               "kind": "VirtualService", "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta["uid"],
                               "resourceVersion": meta["resourceVersion"]},
            "type": "Warning", "reason": "UnsupportedByGateway",
            "message": f"not applied to the k8s-local gateway: {message}"[:1000],
            "source": {"component": "progressive-mesh-agent"}, "count": 1}
        self.core.create_namespaced_event(meta["namespace"], event)

    def run(self) -> None:
        wake = threading.Event()
        wake_on_changes(self.stop, wake, [
            (self.custom.list_cluster_custom_object, (ISTIO_GROUP, ISTIO_VERSION,
                                                      "virtualservices")),
            (self.discovery.list_endpoint_slice_for_all_namespaces, ()),
            (self.core.list_service_for_all_namespaces, ())])
        run_rounds(self.stop, wake, SYNC_EVERY_S, self.sync, "mesh agent")


def _hosts(doc: dict) -> set[str]:
    hosts = set()
    for http in (doc.get("spec") or {}).get("http") or []:
        for r in http.get("route") or []:
            hosts.add((r.get("destination") or {}).get("host", ""))
        if http.get("mirror"):
            hosts.add(http["mirror"].get("host", ""))
    return hosts


def _as_spec_document(doc: dict) -> dict:
    """The VirtualService as a user wrote it: kind, apiVersion, name, namespace and spec."""
    meta = doc["metadata"]
    return {"apiVersion": doc["apiVersion"], "kind": "VirtualService",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "spec": doc.get("spec") or {}}


def _split_vhost(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


def main(argv: list[str] | None = None) -> int:
    args = parser("mesh_agent").parse_args(argv)
    return serve(MeshAgent(args.kubeconfig, args.state_dir))


if __name__ == "__main__":
    sys.exit(main())
