"""The kind platform: a kind cluster with Istio, Prometheus and Croc Hunter, made for a run.

`KindPlatform.up()` checks the machine first (preflight: Docker daemon, kind, kubectl,
istioctl), then runs the steps of `kind_plan` in order: the cluster from
fixtures/kind/cluster.yaml through pytest-kind's KindCluster (binaries from PATH, never
downloaded), Istio with istioctl, Istio's Prometheus addon (scraping every second, published on
a NodePort), the Croc Hunter image built from the packaged Dockerfile (kind/image.py) and loaded with
`kind load docker-image`, and Croc Hunter itself; it ends with a bounded wait until the gateway
serves it from the host. An existing cluster of the same name is reused (that is how
`--keep-env` runs continue); `down()` deletes the cluster unless `keep_env`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from progressive.errors import UserError
from progressive.fsutil import atomic_write
from progressive.platforms.kind import commands
from progressive.platforms.kind.cluster import BOUNDS, ON_PATH, Binaries, ClusterPlatform, Step
from progressive.platforms.kind.image import write_build_context
from progressive.platforms.kind.manifests import (
    APP_NAME,
    APP_NAMESPACE,
    IMAGE_REPO,
    INITIAL_VERSION,
    dump_all,
    gateway_ref,
    load_yaml,
    render_croc_hunter,
    with_free_host_ports,
)
from progressive.platforms.kind.pins import (
    CLUSTER_CONFIG,
    GATEWAY_NODE_PORT,
    ISTIO_OPERATOR,
    PROMETHEUS_CONFIG,
    PROMETHEUS_NODE_PORT,
    load_pins,
)
from progressive.platforms.kind.preflight import binary_path, require
from progressive.platforms.kind.runner import CommandFailed
from progressive.processes import LOOPBACK
from progressive.workloads.base import AppVersion
from progressive.workloads.kubernetes import image_for

CLUSTER_NAME = "progressive"
BASE_IMAGE = f"{IMAGE_REPO}:build"  # built once; each version is a tag of it


@dataclass(frozen=True)
class Layout:
    """The files a run reads or writes (the state dir's for a run, the output dir's for
    `progressive render`)."""

    kubeconfig: Path
    cluster_config: Path
    istio_operator: Path
    prometheus_config: Path
    app_manifests: Path
    build_context: Path  # the Croc Hunter image's (image.write_build_context)

    @property
    def dockerfile(self) -> Path:
        return self.build_context / "Dockerfile"

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> Layout:
        return cls(kubeconfig=state_dir / "kubeconfig",
                   cluster_config=state_dir / "kind-cluster.yaml",
                   istio_operator=ISTIO_OPERATOR, prometheus_config=PROMETHEUS_CONFIG,
                   app_manifests=state_dir / "manifests" / "croc-hunter.yaml",
                   build_context=state_dir / "image")


def rollout(bins: Binaries, kubeconfig: Path, namespace: str, deployment: str, what: str) -> Step:
    bound = BOUNDS["rollout"]
    return Step(commands.rollout_status(bins.kubectl, kubeconfig, namespace, deployment, bound),
                what, bound + 30)  # kubectl reports its own timeout first


def image_steps(bins: Binaries, cluster: str, image: str) -> list[Step]:
    return [Step(commands.docker_tag(bins.docker, BASE_IMAGE, image), f"tag {image}", BOUNDS["get"]),
            Step(commands.kind_load(bins.kind, cluster, image),
                 f"load {image} into the kind cluster", BOUNDS["load"])]


def kind_plan(layout: Layout, *, cluster: str = CLUSTER_NAME, bins: Binaries = ON_PATH,
              reuse: bool = False, app: AppVersion = INITIAL_VERSION) -> list[Step]:
    """Every command of a kind bring-up, in order (pure)."""
    kc, k, pins = layout.kubeconfig, bins.kubectl, load_pins()
    node = f"{cluster}-control-plane"
    if reuse:
        first = Step(commands.kind_export_kubeconfig(bins.kind, cluster, kc),
                     f"write the kubeconfig of the existing kind cluster {cluster}", BOUNDS["get"])
    else:
        first = Step(commands.kind_create(bins.kind, cluster, kc, layout.cluster_config),
                     f"create the kind cluster {cluster}", BOUNDS["create"], via_pytest_kind=True)
    return [
        first,
        Step(commands.wait_nodes_ready(k, kc, BOUNDS["nodes"]), "wait until the node is Ready",
             BOUNDS["nodes"] + 30),
        Step(commands.docker_port(bins.docker, node, GATEWAY_NODE_PORT),
             "find the host port of the ingress gateway", BOUNDS["get"], capture="gateway"),
        Step(commands.docker_port(bins.docker, node, PROMETHEUS_NODE_PORT),
             "find the host port of Prometheus", BOUNDS["get"], capture="prometheus"),
        Step(commands.istio_install(bins.istioctl, kc, layout.istio_operator),
             f"install Istio {pins.istio}", BOUNDS["istio"]),
        rollout(bins, kc, "istio-system", "istiod", "wait for istiod"),
        rollout(bins, kc, "istio-system", "istio-ingressgateway", "wait for the ingress gateway"),
        Step(commands.apply_file(k, kc, pins.prometheus_addon),
             "install Istio's Prometheus addon", BOUNDS["apply"]),
        Step(commands.apply_file(k, kc, layout.prometheus_config),
             "configure Prometheus to scrape every second", BOUNDS["apply"]),
        Step(commands.expose_node_port(k, kc, "istio-system", "prometheus", "http", 9090,
                                       PROMETHEUS_NODE_PORT),
             f"publish Prometheus on NodePort {PROMETHEUS_NODE_PORT}", BOUNDS["apply"]),
        Step(commands.rollout_restart(k, kc, "istio-system", "prometheus"),
             "restart Prometheus with that configuration", BOUNDS["apply"]),
        rollout(bins, kc, "istio-system", "prometheus", "wait for Prometheus"),
        Step(commands.docker_build(bins.docker, BASE_IMAGE, layout.dockerfile,
                                   layout.build_context),
             "build the Croc Hunter image", BOUNDS["build"]),
        *image_steps(bins, cluster, image_for(IMAGE_REPO, app)),
        Step(commands.apply_file(k, kc, layout.app_manifests), "deploy Croc Hunter",
             BOUNDS["apply"]),
        rollout(bins, kc, APP_NAMESPACE, APP_NAME, "wait for Croc Hunter's replicas"),
    ]


def parse_host_port(docker_port_output: str) -> int:
    """`127.0.0.1:31080` (first line of `docker port`) -> 31080."""
    for line in docker_port_output.splitlines():
        if line.strip():
            return int(line.strip().rsplit(":", 1)[1])
    raise UserError(f"`docker port` printed no address: {docker_port_output!r}")


class KindPlatform(ClusterPlatform):
    name = "kind"

    def __init__(self, state_dir: Path, namespace: str = APP_NAMESPACE, *,
                 cluster_name: str = CLUSTER_NAME, keep_env: bool = False,
                 cluster_config: Path = CLUSTER_CONFIG, build_context: Path | None = None):
        """`build_context`: an image context of one's own; by default one is assembled from
        the installed package in the state dir when the platform starts."""
        super().__init__(state_dir, namespace, keep_env)
        self.cluster_name = cluster_name
        self.base_config = Path(cluster_config)
        self.layout = Layout.in_state_dir(self.state_dir)
        self._own_context = build_context is None
        if build_context is not None:
            self.layout = replace(self.layout, build_context=Path(build_context))
        self.gateway_ref = gateway_ref()
        self._loaded_images: set[str] = set()
        info = self.state_dir / "kind.json"
        self._ports = json.loads(info.read_text())["ports"] if info.exists() else {}

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    def check_machine(self) -> None:
        """Stop before anything starts when something is missing (UserError, exit 2)."""
        require("kind")
        if self._own_context:
            write_build_context(self.layout.build_context)
        if not self.layout.dockerfile.exists():
            raise UserError(f"{self.layout.dockerfile} is missing: the kind platform builds the "
                            "Croc Hunter image from it")
        self.bins = Binaries(*(binary_path(n) for n in ("kind", "kubectl", "istioctl", "docker")))

    def start(self) -> None:
        """Run every step of `kind_plan` (reusing a cluster of the same name if there is one)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        listed = self.runner.run(commands.kind_get_clusters(self.bins.kind), timeout=BOUNDS["get"],
                                 what="list the kind clusters")
        reuse = self.cluster_name in listed.stdout.split()
        if not reuse:
            config = with_free_host_ports(load_yaml(self.base_config))
            atomic_write(self.layout.cluster_config, dump_all([config]))
        atomic_write(self.layout.app_manifests, dump_all(render_croc_hunter(self.namespace)))
        captured = self.run_steps(kind_plan(self.layout, cluster=self.cluster_name,
                                            bins=self.bins, reuse=reuse))
        self._ports = {k: parse_host_port(captured[k]) for k in ("gateway", "prometheus")}
        atomic_write(self.state_dir / "kind.json",
                     json.dumps({"cluster": self.cluster_name, "ports": self._ports}))
        self._loaded_images.add(image_for(IMAGE_REPO, INITIAL_VERSION))

    def create_cluster(self, step: Step) -> None:
        """`kind create cluster` through pytest-kind (reuses a cluster of that name)."""
        try:
            self._kind_cluster().create(config_file=self.layout.cluster_config)
        except (subprocess.CalledProcessError, OSError) as exc:
            raise CommandFailed(step.argv, step.what, f"failed ({exc})", "") from exc
        self.runner.log_line(step.argv, step.what, "done (run by pytest-kind's KindCluster)")

    def _kind_cluster(self):
        from pytest_kind import KindCluster

        cluster = KindCluster(self.cluster_name, kubeconfig=self.layout.kubeconfig,
                              kind_path=Path(self.bins.kind), kubectl_path=Path(self.bins.kubectl))
        # KindCluster makes .pytest-kind/<name> in the working directory for binaries it would
        # download; it is given every path, so that directory stays empty: remove it again.
        for d in (cluster.path, cluster.path.parent):
            try:
                d.rmdir()
            except OSError:
                break
        return cluster

    def down(self) -> None:
        if self.keep_env:
            return
        if self.bins.kind == "kind":  # up() did not run in this process: find the binaries
            try:
                self.bins = Binaries(kind=binary_path("kind"), kubectl=binary_path("kubectl"))
            except UserError:
                return  # no kind, hence no cluster of ours
        try:
            self._kind_cluster().delete()
        except (subprocess.CalledProcessError, OSError) as exc:
            raise UserError(f"could not delete the kind cluster {self.cluster_name}: {exc}; "
                            f"delete it with `kind delete cluster --name={self.cluster_name}`"
                            ) from exc
        self.runner.log_line(commands.kind_delete(self.bins.kind, self.cluster_name,
                                                  self.kubeconfig),
                             f"delete the kind cluster {self.cluster_name}",
                             "done (run by pytest-kind's KindCluster)")
        (self.state_dir / "kind.json").unlink(missing_ok=True)

    def ensure_image(self, image: str) -> None:
        """Tag the built image for a new version and load it into the cluster (once each)."""
        if image not in self._loaded_images:
            self.run_steps(image_steps(self.bins, self.cluster_name, image))
            self._loaded_images.add(image)

    def _url(self, key: str) -> str:
        if key not in self._ports:
            raise UserError(f"the kind platform is not up (no {key} port in {self.state_dir})")
        return f"http://{LOOPBACK}:{self._ports[key]}"

    @property
    def gateway_url(self) -> str:
        return self._url("gateway")

    @property
    def prometheus_url(self) -> str:
        return self._url("prometheus")

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "kind": load_pins().kind}

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        written = super().collect_diagnostics(dest)
        logs = Path(dest) / "kind-logs"
        try:
            self.runner.run(commands.kind_export_logs(self.bins.kind, self.cluster_name, logs),
                            timeout=BOUNDS["diagnostics"], what="export the kind node logs",
                            check=False)
        except CommandFailed as exc:
            self.runner.note(f"no kind node logs: {exc}")
        return written + ([logs] if logs.exists() else [])


FLAGGER_NAMESPACE = "istio-system"  # where Flagger's kustomize overlay for Istio installs it


def flagger_install_steps(bins: Binaries, kubeconfig: Path) -> list[Step]:
    """Flagger for Istio in a cluster: kubectl's kustomize of the pinned release, then its
    rollout (used by ClusterPlatform.install_flagger and `progressive render`)."""
    pins = load_pins()
    return [Step(commands.apply_kustomize(bins.kubectl, kubeconfig, pins.flagger_kustomize),
                 f"install Flagger {pins.flagger} for Istio", BOUNDS["apply"]),
            rollout(bins, kubeconfig, FLAGGER_NAMESPACE, "flagger", "wait for Flagger")]
