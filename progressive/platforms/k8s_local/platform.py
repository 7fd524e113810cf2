"""`--platform k8s-local`: a real Kubernetes control plane whose pods are local processes.

The kubeconfig platform pointed at a control plane the harness starts itself (control_plane.py),
so the cluster code (DeploymentWorkloads, IstioRouter, the fixtures/kind manifests, the Flagger
adapter) runs for real on every CI run, with no Docker. Its parts, all processes of the state
dir on 127.0.0.1:

- etcd, kube-apiserver, kube-controller-manager, kube-scheduler (built by `progressive tools install`);
- the node agent (the kubelet's part) and the mesh agent (istiod's part), ours;
- the local platform's Envoy gateway and Prometheus, which the mesh agent configures; the
  gateway and Prometheus URLs are given directly (no port-forward: there is no kubelet).

`up()` installs Istio's and Flagger's CRDs (read from their Go modules at build time, never
committed), then Croc Hunter v1 from the kind platform's manifests, and returns once the
gateway serves it. `down()` stops every process the state dir records, also after a harness
that was SIGKILLed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import shutil
import sys
import time
from pathlib import Path

import requests
import yaml

from progressive import processes
from progressive.errors import MissingBinary
from progressive.fsutil import atomic_write
from progressive.kube import KubeObjects, create_or_merge_patch
from progressive.model.types import CanarySpec
from progressive.platforms.base import ALL_FEATURES
from progressive.platforms.k8s_local.control_plane import (
    BUILD_HINT,
    ControlPlane,
    ControlPlaneFailed,
    tool_path,
)
from progressive.platforms.k8s_local.mesh_agent import read_service_clusters
from progressive.platforms.k8s_local.node_agent import loopback_of
from progressive.platforms.k8s_local.tools import tools_dir, versions
from progressive.platforms.kind.cluster import ClusterPlatform
from progressive.platforms.kind.manifests import (
    APP_NAMESPACE,
    GATEWAY_NAMESPACE,
    render_croc_hunter,
)
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.platforms.local.prometheus import (
    SCRAPE_INTERVAL_S,
    TARGET_UPDATE_S,
    PrometheusServer,
)
from progressive.routing.base import Routes
from progressive.routing.envoy import EnvoyRouter
from progressive.routing.names import cluster_name
from progressive.routing.virtualservice import own_host
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

AGENTS = ("node_agent", "mesh_agent")
CRD_ESTABLISHED_S = 30.0
FLAGGER_READY_S = 60.0  # its caches sync with the API server first
ROUTE_LIVE_S = 10.0  # the mesh agent's sync (0.25 s) and Envoy's update, on a loaded machine
METRICS_FLOW_TIMEOUT_S = 3 * (TARGET_UPDATE_S + 2 * SCRAPE_INTERVAL_S)


def pinned() -> dict:
    """fixtures/versions.yaml (resources.fixture): the releases the tools are built from."""
    return versions()


def crd_files(tools: Path | None = None) -> list[Path]:
    """Istio's and Flagger's CRDs, as `progressive tools install` copied them from the modules
    into `tools` (default `tools_dir()`)."""
    tools = tools_dir() if tools is None else tools
    pins = pinned()
    files = [tools / "crds" / f"istio-{pins['istioApi']}.yaml",
             tools / "crds" / f"flagger-{pins['flagger']}.yaml"]
    for f in files:
        if not f.exists():
            raise MissingBinary(str(f), f"{BUILD_HINT}; it copies the CRDs from the Go "
                                        "module cache")
    return files


def check_machine(kubernetes_version: str | None = None) -> None:
    """MissingBinary, naming the tool and how to build it, before anything starts."""
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        tool_path(name, kubernetes_version)
    tool_path("etcd")
    crd_files()
    processes.find_binary("envoy")
    processes.find_binary("prometheus")


class K8sLocalPlatform(ClusterPlatform):
    name = "k8s-local"
    FEATURES = ALL_FEATURES  # pod addresses map to loopback ones: workload endpoints dial

    def __init__(self, state_dir: Path, namespace: str = APP_NAMESPACE, *, keep_env: bool = False,
                 die_with_parent: bool = True, kubernetes_version: str | None = None,
                 app_version: str | None = "v1", app_replicas: int = 3):
        """`app_version`: the Croc Hunter release `up` serves (None: no app)."""
        super().__init__(state_dir, namespace, keep_env)
        self.app_version, self.app_replicas = app_version, app_replicas
        self.die_with_parent = die_with_parent
        self.plane = ControlPlane(self.state_dir, kubernetes_version, die_with_parent)
        self.gateway = EnvoyGateway(self.state_dir, die_with_parent=die_with_parent)
        self.prometheus = PrometheusServer(self.state_dir, die_with_parent=die_with_parent)
        self._flagger: processes.ManagedProcess | None = None
        self._kube_version: str | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    @staticmethod
    def is_running(state_dir: Path) -> bool:
        """`progressive up --platform k8s-local` runs in `state_dir`."""
        info = Path(state_dir) / "platform.json"
        if not info.exists() or json.loads(info.read_text()).get("platform") != "k8s-local":
            return False
        return any(r["name"] == "kube-apiserver" and processes.pid_alive(r["pid"], r.get("create_time"))
                   for r in processes.recorded_processes(Path(state_dir)))

    @classmethod
    def attach(cls, state_dir: Path) -> K8sLocalPlatform:
        """The platform `up` started in `state_dir` (its gateway and Prometheus ports)."""
        info = json.loads((Path(state_dir) / "platform.json").read_text())
        platform = cls(state_dir, info.get("namespace", APP_NAMESPACE), die_with_parent=False)
        platform.gateway = EnvoyGateway.attach(platform.state_dir)
        platform.prometheus = PrometheusServer.attach(platform.state_dir)
        return platform

    def status(self) -> dict:
        """URLs, and per Deployment outside kube-system: version (image tag), replicas, ready
        replicas and container ports, as the API server reports them."""
        workloads = {}
        for d in self.objects.list("apps/v1", "Deployment"):
            meta, spec = d["metadata"], d.get("spec") or {}
            if meta["namespace"] == "kube-system":
                continue
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            workloads[f"{meta['namespace']}/{meta['name']}"] = {
                "version": containers[0]["image"].rpartition(":")[2] if containers else "",
                "replicas": spec.get("replicas", 1),
                "ready": (d.get("status") or {}).get("readyReplicas") or 0,
                "ports": [p["containerPort"] for c in containers for p in c.get("ports") or []]}
        return {"platform": self.name, "state_dir": str(self.state_dir),
                "gateway_url": self.gateway_url, "envoy_admin_url": self.gateway.admin_url,
                "prometheus_url": self.prometheus_url, "kubeconfig": str(self.kubeconfig),
                "gateway_alive": self.gateway.alive(), "prometheus_alive": self.prometheus.alive(),
                "workloads": dict(sorted(workloads.items()))}

    def check_machine(self) -> None:
        check_machine(self.plane.kubernetes_version)

    def start(self) -> None:
        started = time.monotonic()
        self.plane.start()
        self._record("control plane ready", started)
        self.gateway.start()
        self.prometheus.start()
        self.prometheus.set_envoy_target(self.gateway.admin_url.removeprefix("http://"))
        for agent in AGENTS:
            processes.start_process(agent.replace("_", "-"), [
                sys.executable, "-m", f"progressive.platforms.k8s_local.{agent}",
                "--kubeconfig", str(self.kubeconfig), "--state-dir", str(self.state_dir)],
                self.state_dir, die_with_parent=self.die_with_parent)
        self._install_crds()
        started = time.monotonic()
        objects = self.objects
        create_or_merge_patch(objects, {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": GATEWAY_NAMESPACE}})
        for doc in render_croc_hunter(self.namespace, labels=self.labels,
                                      app=AppVersion(self.app_version or "v1"),
                                      replicas=self.app_replicas):
            if self.app_version is not None or doc["kind"] in ("Namespace", "Gateway"):
                create_or_merge_patch(objects, doc)  # no app: its namespace and gateway only
        self._record("Croc Hunter applied" if self.app_version else "no app", started)
        self.versions()  # kept for the report
        atomic_write(self.state_dir / "platform.json", json.dumps({
            "platform": self.name, "gateway_url": self.gateway_url,
            "prometheus_url": self.prometheus_url, "namespace": self.namespace}, indent=1))

    def _install_crds(self) -> None:
        started = time.monotonic()
        crds = KubeObjects(_api_client(self.kubeconfig))
        names = []
        for path in crd_files():
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    create_or_merge_patch(crds, doc)
                    names.append(doc["metadata"]["name"])

        def established() -> bool:
            for name in names:
                crd = crds.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name) or {}
                conditions = (crd.get("status") or {}).get("conditions") or []
                if not any(c["type"] == "Established" and c["status"] == "True"
                           for c in conditions):
                    return False
            return True

        wait_until(established, timeout=CRD_ESTABLISHED_S, what="the CRDs to be established")
        self._record(f"{len(names)} CRDs established", started)

    def install_flagger(self) -> None:
        """Flagger as a local process against this control plane, once (the engine under test).

        Its HTTP server listens on every interface at `-port` (it has no flag for the address):
        the one exception to this project's 127.0.0.1 rule; it gets a free port of its own."""
        if self._flagger is not None and self._flagger.alive():
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "flagger.lock", "a") as lock:  # test workers share one
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not any(r["name"] == "flagger" and processes.pid_alive(r["pid"], r.get("create_time"))
                           for r in processes.recorded_processes(self.state_dir)):
                    self._start_flagger()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _start_flagger(self) -> None:
        port = processes.free_port()
        self._flagger = processes.start_process("flagger", [
            str(tool_path("flagger")), f"-kubeconfig={self.kubeconfig}", "-mesh-provider=istio",
            f"-metrics-server={self.prometheus_url}", "-enable-leader-election=false",
            f"-port={port}", "-log-level=info"], self.state_dir,
            die_with_parent=self.die_with_parent)
        flagger = self._flagger

        def healthy() -> str | None:
            if not flagger.alive():
                return "exited"
            try:
                return "ok" if requests.get(f"http://{processes.LOOPBACK}:{port}/healthz",
                                            timeout=1).status_code == 200 else None
            except requests.RequestException:
                return None

        if wait_until(healthy, timeout=FLAGGER_READY_S, what="Flagger /healthz") != "ok":
            raise ControlPlaneFailed(f"Flagger exited during start:\n{flagger.log_tail()}")

    def down(self) -> None:
        processes.stop_all_recorded(self.state_dir)  # agents, pods, gateway, control plane
        self.plane.stop()
        (self.state_dir / "platform.json").unlink(missing_ok=True)

    def wait_for_metrics(self) -> None:
        """Return once Prometheus scrapes the gateway (as on the local platform)."""
        wait_until(lambda: self.metrics().run_query('sum(up{job="envoy"})') == 1,
                   timeout=METRICS_FLOW_TIMEOUT_S, what="Prometheus' first scrape of the gateway")

    def clear_metrics(self, namespace: str) -> None:
        self.prometheus.forget([f'{{envoy_cluster_name=~"{namespace}_.+"}}',
                                f'{{destination_workload_namespace="{namespace}"}}',
                                f'{{job="apps", namespace="{namespace}"}}'])

    def router(self):
        from progressive.routing.istio import IstioRouter

        return IstioRouter(None, objects=self.objects, gateway=self.gateway_ref,
                           labels=self.labels, wait_live=self._wait_live,
                           read_live=self._read_live)

    def _read_live(self, canary: CanarySpec) -> Routes:
        """The gateway's weights for the canary's VirtualService (named after the target). Its
        destinations are Services, whose clusters are named after the Deployments behind them
        (Flagger's `<target>-canary` Service selects the target's own pods)."""
        clusters = read_service_clusters(self.state_dir)

        def cluster_of(service: str, namespace: str) -> str:
            return clusters.get(f"{namespace}/{service}") or cluster_name(namespace, service)

        return EnvoyRouter(self.gateway, self.state_dir).get_routes(
            dataclasses.replace(canary, name=canary.target), cluster_of)

    def _wait_live(self, canary: CanarySpec, routes: Routes) -> None:
        """Until the gateway serves `routes` for the canary's VirtualService: the mesh agent
        applies a change within its sync period, and the engine must not scale a side down
        while the gateway still sends it traffic."""
        wait_until(lambda: self._read_live(canary) == routes, timeout=ROUTE_LIVE_S,
                   what=f"the gateway to serve {routes.primary_weight}/{routes.canary_weight} "
                        f"for {canary.namespace}/{canary.target}",
                   poll=0.02, max_poll=0.1)

    def gateway_host(self, spec) -> str:
        """The Host header that reaches `spec`'s VirtualService (a Canary's is named after its
        target, by the bundled engine and Flagger alike) and no other: its own host
        `name.namespace.progressive.test`, which the mesh agent gives every VirtualService,
        so that tests sharing the gateway never reach each other's routes."""
        name = spec.target if isinstance(spec, CanarySpec) else spec.name
        return own_host(name, spec.namespace)

    def workloads(self, namespace: str | None = None, *, services: bool = True):
        workloads = super().workloads(namespace, services=services)
        workloads.address_of = loopback_of
        return workloads

    @property
    def gateway_url(self) -> str:
        return self.gateway.listener_url

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url

    @property
    def flagger_prometheus(self) -> str:
        return self.prometheus.url  # Flagger is a local process here: no cluster DNS needed

    def versions(self) -> dict[str, str]:
        """What runs (the conformance report names it): read while the platform is up and
        kept, since the report is written after the platform is stopped."""
        if self._kube_version is None:
            from kubernetes import client

            self._kube_version = client.VersionApi(
                _api_client(self.kubeconfig)).get_code().git_version
        found = {"kubernetes": self._kube_version, "envoy": self.gateway.version(),
                 "prometheus": self.prometheus.version()}
        if self._flagger is not None:
            found["flagger"] = pinned()["flagger"]
        return found

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        """The components' logs and the cluster's objects and events (never the kubeconfig or
        the keys)."""
        written = super().collect_diagnostics(dest) if shutil.which("kubectl") else []
        logs = self.state_dir / "logs"
        if logs.is_dir():
            shutil.copytree(logs, Path(dest) / "logs", dirs_exist_ok=True)
            written.append(Path(dest) / "logs")
        return written


def _api_client(kubeconfig: Path):
    from kubernetes.config import new_client_from_config

    return new_client_from_config(config_file=str(kubeconfig))

