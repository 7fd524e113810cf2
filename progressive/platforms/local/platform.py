"""The embedded local platform: one Envoy gateway, one Prometheus, Croc Hunter processes.

Everything binds to 127.0.0.1 on ports the OS picks, and lives in a state dir (pids, ports,
configs, logs). `LocalPlatform.up()` starts it; `attach()` reconnects from another process
(the CLI after `progressive up`); `down()` stops everything it recorded, also after a crash of
the process that started it.

When a workload's replicas change, the platform republishes them as the workload's Envoy
cluster endpoints and as Prometheus scrape targets. A supervisor thread in the process that
owns the platform restarts dead replicas (see workloads.py), and a dead Envoy gateway or
Prometheus (`AUTO_RESTART`), each on its ports with its current files: Envoy reloads the last
routes and clusters the router and the workloads wrote under STATE/envoy/ (the weights the
engine had set, not 100/0), Prometheus its data and scrape targets.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import requests

from progressive import processes
from progressive.fsutil import atomic_write
from progressive.platforms.base import ALL_FEATURES
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.platforms.local.prometheus import (
    SCRAPE_INTERVAL_S,
    TARGET_UPDATE_S,
    PrometheusServer,
)
from progressive.platforms.local.workloads import LocalWorkloads
from progressive.routing.names import cluster_name
from progressive.routing.virtualservice import own_host
from progressive.waiting import wait_until

GATEWAY_READY_TIMEOUT_S = 20.0
# Target hand-over and a scrape, x3 for a loaded machine.
METRICS_FLOW_TIMEOUT_S = 3 * (TARGET_UPDATE_S + 2 * SCRAPE_INTERVAL_S)
SUPERVISE_EVERY_S = 0.5
AUTO_RESTART = frozenset({"gateway", "prometheus"})
# down() waits this long for a restart in progress (Prometheus' ready bound and Envoy's).
SUPERVISOR_JOIN_S = 60.0


class LocalPlatform:
    name = "local"
    FEATURES = ALL_FEATURES

    def __init__(self, state_dir: Path, namespace: str = "default", *, die_with_parent: bool = True):
        self.state_dir = Path(state_dir).resolve()
        self.namespace = namespace
        self.die_with_parent = die_with_parent
        self.gateway = EnvoyGateway(self.state_dir, die_with_parent=die_with_parent)
        self.prometheus = PrometheusServer(self.state_dir, die_with_parent=die_with_parent)
        self._workloads: dict[str, LocalWorkloads] = {}
        self._publish_lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._stop = threading.Event()
        self._router = None
        self._metrics = None
        self.auto_restart = set(AUTO_RESTART)  # a test may take a server out to restart it itself

    # -- lifecycle --------------------------------------------------------------------------

    def up(self) -> None:
        processes.find_binary("envoy")
        processes.find_binary("prometheus")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.gateway.start()
            self.prometheus.start()
            self.prometheus.set_envoy_target(self.gateway.admin_url.removeprefix("http://"))
            self._write_platform_file()
            wait_until(
                self._gateway_answers,
                timeout=GATEWAY_READY_TIMEOUT_S,
                what="the Envoy gateway to answer on its listener",
            )
        except BaseException:
            self.down()
            raise
        self.start_supervisor()

    def wait_for_metrics(self) -> None:
        """Return once Prometheus has scraped the gateway. A started Prometheus hands its targets
        to its scrapers only after TARGET_UPDATE_S (5 s): an analysis that began with the
        platform would see no data at its first checks (at time scale 0.1, a failed check)."""
        wait_until(
            lambda: self.metrics().run_query('sum(up{job="envoy"})') == 1,
            timeout=METRICS_FLOW_TIMEOUT_S,
            what="Prometheus' first scrape of the gateway",
            hint=(f"Prometheus must reach Envoy's admin port: see its targets at "
                  f"{self.prometheus.url}/targets and {self.prometheus.targets_dir}/envoy.json; "
                  "`progressive down` and start afresh"),
        )

    def clear_metrics(self, namespace: str) -> None:
        """Give a run in `namespace` a clean view on a platform that outlives runs: every sample
        recorded so far for the namespace's workloads is deleted (the gateway's per-cluster
        series, the Istio-named ones the rules derive from them, the apps' own). A second
        rollout of a canary then never judges the first one's requests; other namespaces (runs
        at the same time) keep theirs."""
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
            raise ValueError(f"not a namespace name: {namespace!r}")
        self.prometheus.forget([
            f'{{envoy_cluster_name=~"{namespace}_.+"}}',
            f'{{destination_workload_namespace="{namespace}"}}',
            f'{{job="apps", namespace="{namespace}"}}',
        ])

    @classmethod
    def attach(cls, state_dir: Path) -> LocalPlatform:
        """Reconnect to a platform started by `progressive up` (or another process)."""
        state_dir = Path(state_dir).resolve()
        info_path = state_dir / "platform.json"
        if not info_path.exists():
            from progressive.errors import UserError

            raise UserError(
                f"no local platform is running in {state_dir} (start one with `progressive up`)"
            )
        info = json.loads(info_path.read_text())
        platform = cls.__new__(cls)
        platform.state_dir = state_dir
        platform.namespace = info.get("namespace", "default")
        platform.die_with_parent = False
        platform.gateway = EnvoyGateway.attach(state_dir)
        platform.prometheus = PrometheusServer.attach(state_dir)
        platform._workloads = {}
        platform._publish_lock = threading.Lock()
        platform._supervisor = None
        platform._stop = threading.Event()
        platform._router = None
        platform._metrics = None
        platform.auto_restart = set(AUTO_RESTART)
        return platform

    @staticmethod
    def is_running(state_dir: Path) -> bool:
        state_dir = Path(state_dir)
        if not (state_dir / "platform.json").exists():
            return False
        recs = {r["name"]: r for r in processes.recorded_processes(state_dir)}
        return any(
            processes.pid_alive(r["pid"], r.get("create_time"))
            for n, r in recs.items()
            if not n.startswith("app-")
        )

    def start_supervisor(self) -> None:
        if self._supervisor is not None:
            return
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def stop_supervisor(self) -> None:
        """End the supervisor thread; the platform's processes keep running."""
        self._stop.set()

    def _supervise(self) -> None:
        while not self._stop.wait(SUPERVISE_EVERY_S):
            self._restart_dead_servers()
            for wl in list(self._workloads.values()):
                try:
                    wl.reconcile()
                except Exception:  # noqa: BLE001 - a supervisor must not die; next round retries
                    continue

    def _restart_dead_servers(self) -> None:
        """Restart the gateway / Prometheus if dead; a failed restart is retried next round."""
        for name, server in (("gateway", self.gateway), ("prometheus", self.prometheus)):
            if name not in self.auto_restart or self._stop.is_set() or server.alive():
                continue
            try:
                server.restart()
                if name == "gateway":  # the admin port moves if it was taken meanwhile
                    self.prometheus.set_envoy_target(self.gateway.admin_url.removeprefix("http://"))
                    self._write_platform_file()
            except Exception:  # noqa: BLE001 - a supervisor must not die; next round retries
                continue

    def down(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=SUPERVISOR_JOIN_S)
            self._supervisor = None
        for step in (self.prometheus.stop, self.gateway.stop):
            try:
                step()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                pass
        processes.stop_all_recorded(self.state_dir)
        (self.state_dir / "platform.json").unlink(missing_ok=True)
        (self.state_dir / "workloads.json").unlink(missing_ok=True)

    def _write_platform_file(self) -> None:
        info = {
            "namespace": self.namespace,
            "gateway_url": self.gateway.listener_url,
            "envoy_admin_url": self.gateway.admin_url,
            "prometheus_url": self.prometheus.url,
            "started": time.time(),
        }
        atomic_write(self.state_dir / "platform.json", json.dumps(info, indent=1))

    def _gateway_answers(self) -> bool:
        # Any HTTP answer (404 with no routes yet) proves the listener serves.
        requests.get(self.gateway.listener_url + "/healthz", timeout=1)
        return True

    # -- seams ------------------------------------------------------------------------------

    def workloads(self, namespace: str | None = None) -> LocalWorkloads:
        ns = namespace or self.namespace
        if ns not in self._workloads:
            self._workloads[ns] = LocalWorkloads(
                self.state_dir, ns, on_endpoints=self._publish, die_with_parent=self.die_with_parent
            )
        return self._workloads[ns]

    def router(self):
        if self._router is None:
            from progressive.routing.envoy import EnvoyRouter

            self._router = EnvoyRouter(self.gateway, self.state_dir)
        return self._router

    def metrics(self):
        if self._metrics is None:
            from progressive.metrics.prometheus import PrometheusProvider

            self._metrics = PrometheusProvider(self.prometheus.url)
        return self._metrics

    def _publish(self, namespace: str, name: str) -> None:
        """Republish every workload's endpoints as Envoy clusters, and `name`'s scrape targets,
        both from the workloads file read under the lock (a supervisor restart racing `stop_all`
        must not bring back the targets it withdrew). The gateway's config lock spans the read
        and the write, across processes: a process publishing from an older read would drop
        the clusters another process (a concurrent test worker) has just added."""
        with self._publish_lock, self.gateway.exclusive():
            clusters: dict[str, list[tuple[str, int]]] = {}
            db = json.loads((self.state_dir / "workloads.json").read_text())
            for key, entry in db.items():
                ns, _, wl = key.partition("/")
                clusters[cluster_name(ns, wl)] = [
                    (processes.LOOPBACK, r["port"]) for r in entry["replicas"] if r.get("port")
                ]
            self.gateway.set_clusters(clusters)
            mine = clusters.get(cluster_name(namespace, name), [])
            self.prometheus.set_app_targets(name, namespace, [f"{h}:{p}" for h, p in mine])

    # -- facts ------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self.gateway.listener_url

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url

    def gateway_host(self, spec) -> str:
        """Host header that reaches `spec`'s route through the gateway: its own host,
        `name.namespace`, which no other spec claims (their `hosts` may overlap)."""
        return own_host(spec.name, spec.namespace)

    def state_store(self):
        from progressive.engine.state import FileStateStore

        return FileStateStore(self.state_dir)

    @property
    def features(self) -> frozenset[str]:
        return self.FEATURES

    def versions(self) -> dict[str, str]:
        return {"envoy": self.gateway.version(), "prometheus": self.prometheus.version()}

    def status(self) -> dict:
        workloads = {}
        db_path = self.state_dir / "workloads.json"
        namespaces = {self.namespace}
        if db_path.exists():
            namespaces |= {k.partition("/")[0] for k in json.loads(db_path.read_text())}
        for ns in sorted(namespaces):
            for name, desc in self.workloads(ns).describe().items():
                workloads[f"{ns}/{name}"] = desc
        return {
            "state_dir": str(self.state_dir),
            "gateway_url": self.gateway_url,
            "envoy_admin_url": self.gateway.admin_url,
            "prometheus_url": self.prometheus_url,
            "gateway_alive": self.gateway.alive(),
            "prometheus_alive": self.prometheus.alive(),
            "workloads": workloads,
        }

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        """Copy logs, configs, Envoy's live config and the workloads table into `dest`."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for sub in ("logs", "envoy", "engine"):
            src = self.state_dir / sub
            if src.is_dir():
                shutil.copytree(src, dest / sub, dirs_exist_ok=True)
                written.append(dest / sub)
        for name in ("workloads.json", "routes.json", "platform.json"):
            src = self.state_dir / name
            if src.exists():
                shutil.copy2(src, dest / name)
                written.append(dest / name)
        try:
            (dest / "envoy-config-dump.json").write_text(json.dumps(self.gateway.config_dump()))
            written.append(dest / "envoy-config-dump.json")
        except Exception as exc:  # noqa: BLE001 - diagnostics are best effort
            (dest / "envoy-config-dump.error.txt").write_text(repr(exc))
        return written
