"""An existing cluster (`--platform kubeconfig`): the kind platform minus creating anything
cluster-wide, for conformance runs before a real cluster or mesh upgrade.

The cluster must already run Istio (with an ingress gateway `istio-ingressgateway` and the
Prometheus addon in istio-system) and be able to pull `<image_repo>:<version>` images. A run
gets a namespace of its own, `progressive-<runid>`; everything it creates carries the labels
`app.kubernetes.io/managed-by=progressive` and `progressive.dev/run=<runid>` and is removed by
that label at `down()`. Namespaces that existed before are never labelled, adopted or deleted.
The gateway and Prometheus are reached through `kubectl port-forward` on 127.0.0.1 (recorded
processes in the state dir, stopped at `down()`), unless their URLs are given.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from progressive import processes
from progressive.errors import UserError
from progressive.fsutil import atomic_write
from progressive.kube import MANAGED_BY
from progressive.platforms.kind import commands
from progressive.platforms.kind.cluster import (
    BOUNDS,
    ON_PATH,
    RUN_LABEL,
    Binaries,
    ClusterPlatform,
    Step,
)
from progressive.platforms.kind.manifests import (
    APP_NAME,
    IMAGE_REPO,
    dump_all,
    gateway_ref,
    render_croc_hunter,
)
from progressive.platforms.kind.platform import rollout
from progressive.platforms.kind.preflight import binary_path, require
from progressive.waiting import wait_until

# Objects a run creates, deleted by label at down() (then its namespace).
RUN_KINDS = ("deployments,services,configmaps,virtualservices.networking.istio.io,"
             "destinationrules.networking.istio.io,gateways.networking.istio.io")
PORT_FORWARDS = {"gateway": ("svc/istio-ingressgateway", 80),
                 "prometheus": ("svc/prometheus", 9090)}


def kubeconfig_plan(kubeconfig: Path, manifests: Path, namespace: str,
                    bins: Binaries = ON_PATH) -> list[Step]:
    k = bins.kubectl
    return [
        Step(commands.get(k, kubeconfig, None, "namespace", "istio-system"),
             "check that the cluster answers and has Istio (namespace istio-system)",
             BOUNDS["get"]),
        Step(commands.apply_file(k, kubeconfig, manifests),
             f"deploy Croc Hunter in namespace {namespace}", BOUNDS["apply"]),
        rollout(bins, kubeconfig, namespace, APP_NAME, "wait for Croc Hunter's replicas"),
    ]


def default_kubeconfig() -> Path:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first or "~/.kube/config").expanduser()


class KubeconfigPlatform(ClusterPlatform):
    name = "kubeconfig"
    adopt_namespaces = False  # not our cluster: never touch a namespace we did not create

    def __init__(self, state_dir: Path, kubeconfig: Path | None = None, *,
                 run_id: str | None = None, image_repo: str = IMAGE_REPO,
                 gateway_url: str | None = None, prometheus_url: str | None = None,
                 keep_env: bool = False):
        self.run_id = run_id or uuid.uuid4().hex[:8]
        super().__init__(state_dir, f"progressive-{self.run_id}", keep_env)
        self._kubeconfig = Path(kubeconfig) if kubeconfig else default_kubeconfig()
        self.image_repo = image_repo
        self.labels = {**MANAGED_BY, RUN_LABEL: self.run_id}
        self.gateway_ref = gateway_ref(self.namespace)  # our Gateway lives in our namespace
        self._urls = {"gateway": gateway_url, "prometheus": prometheus_url}
        self.manifests = self.state_dir / "manifests" / "croc-hunter.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    @property
    def selector(self) -> str:
        return f"{RUN_LABEL}={self.run_id}"

    def check_machine(self) -> None:
        require("kubeconfig")
        if not self._kubeconfig.is_file():
            raise UserError(f"kubeconfig {self._kubeconfig} does not exist (give --kubeconfig "
                            "or set KUBECONFIG)")
        self.bins = Binaries(kubectl=binary_path("kubectl"))

    def start(self) -> None:
        docs = render_croc_hunter(self.namespace, image_repo=self.image_repo, labels=self.labels,
                                  gateway_namespace=self.namespace)
        atomic_write(self.manifests, dump_all(docs))
        self.run_steps(kubeconfig_plan(self._kubeconfig, self.manifests, self.namespace,
                                       self.bins))

    def connect(self) -> None:
        """Port-forwards to the gateway and Prometheus, unless their URLs were given."""
        for key in PORT_FORWARDS:
            if self._urls[key] is None:
                self._urls[key] = self._port_forward(key)

    def _port_forward(self, key: str) -> str:
        target, remote = PORT_FORWARDS[key]
        local = processes.free_port()
        argv = commands.port_forward(self.bins.kubectl, self._kubeconfig, "istio-system", target,
                                     local, remote)
        self.runner.log_line(argv, f"forward {target} to 127.0.0.1:{local}", "started")
        proc = processes.start_process(f"port-forward-{key}", argv, self.state_dir)
        wait_until(lambda: _accepts(local) or not proc.alive(), timeout=BOUNDS["get"],
                   what=f"kubectl port-forward of {target} to listen on 127.0.0.1:{local}")
        if not proc.alive():
            raise UserError(f"kubectl port-forward of {target} exited:\n{proc.log_tail()}")
        return f"http://{processes.LOOPBACK}:{local}"

    def down(self) -> None:
        processes.stop_all_recorded(self.state_dir)  # the port-forwards
        if self.keep_env or self.bins.kubectl == "kubectl":  # kept, or never started
            return
        kc, k, bound = self._kubeconfig, self.bins.kubectl, BOUNDS["delete"]
        for argv, what in (
            (commands.delete_labelled(k, kc, RUN_KINDS, self.selector, bound),
             f"delete the objects labelled {self.selector}"),
            (commands.delete_labelled_namespaces(k, kc, self.selector, bound),
             f"delete the namespaces labelled {self.selector}"),
        ):
            self.runner.run(argv, timeout=bound + 30, what=what)

    @property
    def gateway_url(self) -> str:
        return self._url("gateway")

    @property
    def prometheus_url(self) -> str:
        return self._url("prometheus")

    def _url(self, key: str) -> str:
        url = self._urls[key]
        if url is None:
            raise UserError(f"the kubeconfig platform is not up (no {key} address yet)")
        return url


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((processes.LOOPBACK, port)) == 0
