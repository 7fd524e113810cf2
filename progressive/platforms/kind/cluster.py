"""What the two cluster platforms (kind, existing kubeconfig) share: the seams over the
Kubernetes API, the bounded step runner, readiness waits and diagnostics.

A platform's bring-up is a list of `Step`s (a command line, what it is for, its bound), built
by a pure `plan` function so that `progressive render` can print exactly what `up()` runs.
Each step's duration is recorded in STATE/timings.json: those are the figures to quote for
"cluster ready in N minutes".
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from progressive.fsutil import atomic_write
from progressive.kube import MANAGED_BY
from progressive.platforms.base import ALL_FEATURES
from progressive.platforms.kind import commands
from progressive.platforms.kind.manifests import APP_HOST
from progressive.platforms.kind.pins import load_pins
from progressive.platforms.kind.runner import Runner
from progressive.platforms.kind.state import ConfigMapStateStore
from progressive.waiting import wait_until

# Every bound of a cluster bring-up, in seconds (generous: a first run pulls images).
BOUNDS = {
    "get": 30,  # a read-only command (kind get clusters, docker port)
    "create": 600,  # kind create cluster, pulling the node image on a first run
    "nodes": 180,  # node Ready after creation
    "istio": 600,  # istioctl install waits for istiod and the gateway itself
    "apply": 180,  # kubectl apply (the Prometheus addon is fetched from GitHub)
    "rollout": 300,  # a Deployment's rollout (image pulls included)
    "build": 900,  # docker build of Croc Hunter (a cold pip install)
    "load": 300,  # kind load docker-image
    "serve": 120,  # gateway and Prometheus answering from the host after the rollouts
    "delete": 300,  # deleting a cluster or the objects of a run
    "diagnostics": 60,
}
RUN_LABEL = "progressive.dev/run"


@dataclass(frozen=True)
class Step:
    argv: list[str]
    what: str  # "to <what>" reads in an error message
    timeout_s: float
    capture: str | None = None  # keep stdout under this key
    via_pytest_kind: bool = False  # run by KindCluster.create, not by the runner

    def line(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Binaries:
    kind: str = "kind"
    kubectl: str = "kubectl"
    istioctl: str = "istioctl"
    docker: str = "docker"


ON_PATH = Binaries()  # the binaries by name, as a reader types them (render, docs)


# Pod discovery, then a scrape (1 s, fixtures/kind/prometheus-config.yaml), on a busy node.
METRICS_FLOW_TIMEOUT_S = 60.0


class ClusterPlatform:
    """Base of KindPlatform and KubeconfigPlatform: subclasses set `kubeconfig`, `namespace`,
    `labels`, `gateway_ref` and implement up/down and the two URLs."""

    name = "cluster"
    # Pod addresses are inside the cluster's network, not dialable from the harness.
    FEATURES = ALL_FEATURES - {"workload-endpoints"}
    image_repo = "croc-hunter"
    adopt_namespaces = True  # switch sidecar injection on in existing namespaces (own cluster)

    def __init__(self, state_dir: Path, namespace: str, keep_env: bool = False):
        self.state_dir = Path(state_dir).resolve()
        self.namespace = namespace
        self.keep_env = keep_env  # down() leaves everything in place (a later run reuses it)
        self.runner = Runner(self.state_dir / "logs" / "commands.log")
        self.bins = Binaries()
        self.labels: dict[str, str] = dict(MANAGED_BY)
        self.gateway_ref: str | None = None
        self.timings: dict[str, float] = {}
        self._api_client = None
        self._objects = None
        self._flagger_installed = False

    @property
    def kubeconfig(self) -> Path:
        raise NotImplementedError

    def up(self) -> None:
        """Check the machine (nothing starts if something is missing), bring everything up,
        connect, and wait until the gateway serves Croc Hunter; every step is bounded."""
        self.check_machine()
        try:
            self.start()
            self.connect()
            self.wait_serving(APP_HOST)
        except BaseException:
            self.after_failed_up()
            raise

    def wait_for_metrics(self) -> None:
        """Return once the mesh's Prometheus scrapes the app's meshed pods (their sidecars serve
        the istio_* series the checks read); a Prometheus started with the cluster picks up new
        pods only after its service discovery and a scrape."""
        provider = self.metrics()
        try:
            wait_until(lambda: provider.run_query(f'sum(up{{namespace="{self.namespace}"}})') > 0,
                       timeout=METRICS_FLOW_TIMEOUT_S,
                       what=f"Prometheus' first scrape of the pods in {self.namespace}")
        finally:
            provider.close()

    def clear_metrics(self, namespace: str) -> None:
        """Delete the samples recorded so far for `namespace` (the mesh's Prometheus must run
        with --web.enable-admin-api); the suites also give every test a namespace of its own."""
        from progressive.metrics.prometheus import delete_series

        delete_series(self.prometheus_url, [f'{{namespace="{namespace}"}}',
                                            f'{{destination_workload_namespace="{namespace}"}}'])

    def check_machine(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def connect(self) -> None:
        """Make the gateway and Prometheus reachable from this machine (kind: published ports)."""

    # -- running steps ------------------------------------------------------------------------

    def run_steps(self, steps: list[Step]) -> dict[str, str]:
        captured: dict[str, str] = {}
        for step in steps:
            started = time.monotonic()
            if step.via_pytest_kind:
                self.create_cluster(step)
            else:
                done = self.runner.run(step.argv, timeout=step.timeout_s, what=step.what)
                if step.capture:
                    captured[step.capture] = done.stdout
            self._record(step.what, started)
        return captured

    def _record(self, what: str, started: float) -> None:
        """Seconds a step took, into STATE/timings.json (kept when a later step fails)."""
        self.timings[what] = round(time.monotonic() - started, 1)
        atomic_write(self.state_dir / "timings.json", json.dumps(self.timings, indent=1))

    def create_cluster(self, step: Step) -> None:
        raise NotImplementedError

    def down(self) -> None:
        raise NotImplementedError

    def after_failed_up(self) -> None:
        """Keep what explains the failure (STATE/diagnostics-up), then clean up unless
        `keep_env`; neither may hide the error that made up() fail."""
        try:
            self.collect_diagnostics(self.state_dir / "diagnostics-up")
        except Exception as exc:  # noqa: BLE001 - best effort, the original error matters
            self.runner.note(f"could not collect diagnostics: {exc}")
        if not self.keep_env:
            try:
                self.down()
            except Exception as exc:  # noqa: BLE001 - reported in the log, original error raised
                self.runner.note(f"clean-up after the failed start failed: {exc}")

    def wait_serving(self, host: str) -> None:
        """Bounded wait until the gateway serves Croc Hunter and Prometheus is ready."""
        def gateway() -> bool:
            r = requests.get(self.gateway_url + "/healthz", headers={"Host": host}, timeout=2)
            return r.status_code == 200

        def prometheus() -> bool:
            return requests.get(self.prometheus_url + "/-/ready", timeout=2).status_code == 200

        started = time.monotonic()
        wait_until(gateway, timeout=BOUNDS["serve"], max_poll=2.0,
                   what=f"the ingress gateway at {self.gateway_url} to route Host {host} to "
                   "Croc Hunter (/healthz answering 200)")
        wait_until(prometheus, timeout=BOUNDS["serve"], max_poll=2.0,
                   what=f"Prometheus at {self.prometheus_url} to be ready (/-/ready)")
        self._record("gateway and Prometheus answer from the host", started)

    # -- seams ----------------------------------------------------------------------------

    @property
    def objects(self):
        if self._objects is None:
            from kubernetes.config import new_client_from_config

            from progressive.kube import KubeObjects

            self._api_client = new_client_from_config(config_file=str(self.kubeconfig))
            self._objects = KubeObjects(self._api_client)
        return self._objects

    def router(self):
        from progressive.routing.istio import IstioRouter

        return IstioRouter(None, objects=self.objects, gateway=self.gateway_ref, labels=self.labels)

    def metrics(self):
        from progressive.metrics.prometheus import PrometheusProvider

        return PrometheusProvider(self.prometheus_url)

    def workloads(self, namespace: str | None = None, *, services: bool = True):
        from progressive.workloads.kubernetes import DeploymentWorkloads

        return DeploymentWorkloads(
            None, namespace or self.namespace, self.image_repo, objects=self.objects,
            labels=self.labels, ensure_image=self.ensure_image, services=services,
            adopt_namespace=self.adopt_namespaces)

    def state_store(self) -> ConfigMapStateStore:
        return ConfigMapStateStore(self.objects, self.labels)

    def gateway_host(self, spec) -> str:
        """The Host header that reaches `spec`'s route through the ingress gateway."""
        from progressive.routing.istio import gateway_host

        return gateway_host(spec)

    def ensure_image(self, image: str) -> None:
        """Make `image` available to the cluster (kind: tag and load it); default: nothing."""

    def install_flagger(self) -> None:
        """Flagger for Istio in the cluster, once per platform (kubectl's kustomize)."""
        if self._flagger_installed:
            return
        from progressive.platforms.kind.platform import flagger_install_steps

        self.run_steps(flagger_install_steps(self.bins, self.kubeconfig))
        self._flagger_installed = True

    # -- facts ----------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        raise NotImplementedError

    @property
    def prometheus_url(self) -> str:
        raise NotImplementedError

    @property
    def features(self) -> frozenset[str]:
        return self.FEATURES

    def versions(self) -> dict[str, str]:
        p = load_pins()
        return {"kubernetes": p.node_image.split(":")[1].split("@")[0], "istio": p.istio,
                "prometheus": f"Istio {p.istio} addon"}

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        """Objects, events and gateway logs of the cluster, plus the command log (never the
        kubeconfig). Best effort: a command that fails leaves its error in the file."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        kc, k = self.kubeconfig, self.bins.kubectl
        wanted = {
            "objects.txt": commands.get(k, kc, None, "all", "--all-namespaces", "-o", "wide"),
            "istio-routes.yaml": commands.get(
                k, kc, None, "virtualservices,destinationrules,gateways", "--all-namespaces",
                "-o", "yaml"),
            "canaries.yaml": commands.get(k, kc, None, "canaries", "--all-namespaces", "-o", "yaml"),
            "events.txt": commands.get(k, kc, None, "events", "--all-namespaces",
                                       "--sort-by=.lastTimestamp"),
            "ingressgateway.log": commands.kubectl(
                k, kc, "-n", "istio-system", "logs", "deployment/istio-ingressgateway",
                "--tail=500"),
        }
        written = []
        for name, argv in wanted.items():
            try:
                done = self.runner.run(argv, timeout=BOUNDS["diagnostics"], check=False,
                                       what=f"collect {name}", log_output=False)
                text = done.stdout + (f"\n# stderr:\n{done.stderr}" if done.stderr else "")
            except Exception as exc:  # noqa: BLE001 - diagnostics are best effort
                text = f"# could not collect: {exc}\n"
            (dest / name).write_text(text)
            written.append(dest / name)
        for extra in (self.runner.log_path, self.state_dir / "timings.json"):
            if extra.exists():
                (dest / extra.name).write_text(extra.read_text())
                written.append(dest / extra.name)
        return written
