"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, controller-manager, scheduler.

The binaries are the ones `progressive tools install` built from their Go modules into the user
cache (tools.py, `tools_dir()`); every
component is a process of the state dir (STATE/logs, STATE/pids), started and stopped like the
local platform's, on ports the OS picks, bound to 127.0.0.1:

- etcd: data in STATE/k8s/etcd (no fsync: a test cluster's data is disposable);
- kube-apiserver: secure port only, client certificates (pki.py), RBAC on; its endpoint
  reconciler is off (`--endpoint-reconciler-type=none`), since it refuses a loopback advertise
  address; services get addresses from 10.96.0.0/16, which does not overlap the pod range;
- kube-controller-manager and kube-scheduler: no leader election, so a lease a killed run left
  in etcd never delays the next start.

`STATE/kubeconfig` names the harness's admin identity (`kubectl --kubeconfig STATE/kubeconfig
get pods -A` works). Its contents are credentials: never logged, never reported.
"""

from __future__ import annotations

import shutil
import ssl
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from progressive import processes
from progressive.errors import EnvironmentFailed, MissingBinary
from progressive.fsutil import atomic_write
from progressive.platforms.k8s_local.pki import ADMIN_USER, Pki, ensure_pki
from progressive.platforms.k8s_local.tools import GO_DL, MIN_GO, tools_dir, versions
from progressive.processes import LOOPBACK, ManagedProcess, free_port
from progressive.waiting import wait_until

SERVICE_RANGE = "10.96.0.0/16"
POD_RANGE = "10.244.0.0/16"
READY_TIMEOUT_S = 60.0  # the API server's first start (etcd migrations, RBAC bootstrap): ~5-10 s
CONTROLLERS = ("deployment", "replicaset", "endpointslice", "garbagecollector", "namespace",
               "serviceaccount", "serviceaccount-token", "podgc", "nodelifecycle")
BUILD_HINT = (f"run `progressive tools install` (needs Go {MIN_GO[0]}.{MIN_GO[1]}+ on PATH: "
              f"{GO_DL})")


class ControlPlaneFailed(EnvironmentFailed):
    """A component exited or did not become ready; the message carries its log tail."""


def build_hint(kubernetes_version: str | None = None) -> str:
    """How to build the tools (another Kubernetes release: beside the pinned one)."""
    if not kubernetes_version:
        return BUILD_HINT
    return BUILD_HINT.replace("install`", f"install --kubernetes-version {kubernetes_version}`")


def tool_path(name: str, version: str | None = None, tools: Path | None = None) -> Path:
    """A built tool of the release this package pins (or Kubernetes `version`):
    `TOOLS/k8s-VERSION/NAME`, `TOOLS/etcd-VERSION/etcd`, `TOOLS/flagger-VERSION/flagger`, TOOLS
    being `tools_dir()` unless given. Never `TOOLS/bin`: the cache is shared by every install,
    and bin/ points at whichever pins built last."""
    tools = tools_dir() if tools is None else tools
    pins = versions()
    if name in ("etcd", "flagger"):
        path = tools / f"{name}-{pins[name]}" / name
    else:
        path = tools / f"k8s-{version or pins['kubernetes']}" / name
    if not path.exists():
        raise MissingBinary(str(path), build_hint(version))
    return path


@dataclass
class ControlPlane:
    state_dir: Path
    kubernetes_version: str | None = None  # None: the pinned one (tools_dir()/bin)
    die_with_parent: bool = True
    ports: dict[str, int] = field(default_factory=dict)
    _procs: list[ManagedProcess] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.state_dir / "k8s"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['apiserver']}"

    def start(self) -> None:
        """Start every component and return once the API server is ready; on a failure what
        was started is stopped again."""
        binaries = {n: tool_path(n, self.kubernetes_version) for n in
                    ("kube-apiserver", "kube-controller-manager", "kube-scheduler")}
        binaries["etcd"] = tool_path("etcd")
        pki = ensure_pki(self.dir / "pki")
        self.ports = {k: free_port() for k in ("etcd", "etcd-peer", "apiserver",
                                               "controller-manager", "scheduler")}
        try:
            self._start_etcd(binaries["etcd"])
            self._start_apiserver(binaries["kube-apiserver"], pki)
            self._write_kubeconfig(pki)
            self._start_controllers(binaries, pki)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.stop()
        self._procs.clear()

    # -- components -------------------------------------------------------------------------

    def _launch(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = processes.start_process(name, argv, self.state_dir,
                                       die_with_parent=self.die_with_parent)
        self._procs.append(proc)
        return proc

    def _await(self, proc: ManagedProcess, ready, what: str) -> None:
        def settled() -> str | None:
            if not proc.alive():
                return "exited"
            try:
                return "ready" if ready() else None
            except OSError:
                return None

        try:
            outcome = wait_until(settled, timeout=READY_TIMEOUT_S, what=what,
                                 hint=f"read {proc.log_path}")
        except TimeoutError as exc:
            raise ControlPlaneFailed(f"{exc}\n{proc.log_tail()}") from None
        if outcome == "exited":
            raise ControlPlaneFailed(f"{proc.name} exited during start:\n{proc.log_tail()}")

    def _start_etcd(self, binary: Path) -> None:
        data = self.dir / "etcd"
        shutil.rmtree(data, ignore_errors=True)  # every start is a new cluster
        client = f"http://{LOOPBACK}:{self.ports['etcd']}"
        peer = f"http://{LOOPBACK}:{self.ports['etcd-peer']}"
        proc = self._launch("etcd", [
            str(binary), "--name", "progressive", "--data-dir", str(data),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"progressive={peer}", "--unsafe-no-fsync",
            "--log-level", "warn"])

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=1) as answer:  # noqa: S310
                return b'"true"' in answer.read()

        self._await(proc, healthy, "etcd /health")

    def _start_apiserver(self, binary: Path, pki: Pki) -> None:
        proc = self._launch("kube-apiserver", [
            str(binary),
            f"--etcd-servers=http://{LOOPBACK}:{self.ports['etcd']}",
            f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={pki.server_cert}", f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC", "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--profiling=false", "--v=0"])
        context = self._client_ssl(pki)

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.api_url}/readyz", timeout=2,  # noqa: S310
                                        context=context) as answer:
                return answer.status == 200

        self._await(proc, ready, "kube-apiserver /readyz")

    def _start_controllers(self, binaries: dict[str, Path], pki: Pki) -> None:
        common = [f"--kubeconfig={self.kubeconfig}", f"--authentication-kubeconfig={self.kubeconfig}",
                  f"--authorization-kubeconfig={self.kubeconfig}", "--leader-elect=false",
                  f"--bind-address={LOOPBACK}", "--profiling=false"]
        manager = self._launch("kube-controller-manager", [
            str(binaries["kube-controller-manager"]), *common,
            f"--secure-port={self.ports['controller-manager']}",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}", f"--cluster-cidr={POD_RANGE}",
            f"--service-cluster-ip-range={SERVICE_RANGE}"])
        scheduler = self._launch("kube-scheduler", [
            str(binaries["kube-scheduler"]), *common,
            f"--secure-port={self.ports['scheduler']}"])
        for proc, port in ((manager, self.ports["controller-manager"]),
                           (scheduler, self.ports["scheduler"])):
            self._await(proc, lambda port=port: _healthz(port), f"{proc.name} /healthz")

    # -- client side ------------------------------------------------------------------------

    def _client_ssl(self, pki: Pki) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        return context

    def _write_kubeconfig(self, pki: Pki) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "k8s-local",
            "clusters": [{"name": "k8s-local", "cluster": {
                "server": self.api_url, "certificate-authority": str(pki.ca_cert)}}],
            "users": [{"name": ADMIN_USER, "user": {
                "client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)}}],
            "contexts": [{"name": "k8s-local", "context": {"cluster": "k8s-local",
                                                           "user": ADMIN_USER}}],
        }
        atomic_write(self.kubeconfig, yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)


def _healthz(port: int) -> bool:
    # The components serve /healthz without authentication, over TLS with a self-signed
    # certificate of their own: only their liveness is read here.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://{LOOPBACK}:{port}/healthz", timeout=2,  # noqa: S310
                                context=context) as answer:
        return answer.status == 200
