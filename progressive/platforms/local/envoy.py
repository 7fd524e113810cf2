"""The local platform's gateway: one Envoy process configured from files (file-based xDS).

Envoy starts from a bootstrap whose clusters (CDS) and listener (LDS) come from files, and the
listener's HTTP connection manager takes its routes (RDS) from a third file. Each file lives in
its own directory under `STATE/envoy/` and is replaced by atomic rename, which Envoy notices
through `watched_directory`; one directory per resource type means a rename wakes only that
subscription, so its counters tell exactly whether *this* update was taken.

Clusters are EDS clusters, each with its endpoints in its own file (`eds/CLUSTER/eds.json`):
a replica change updates the endpoints in place instead of replacing the cluster, so Envoy's
per-cluster counters (per response code too) run on, as Prometheus' rate() expects.

Every update is confirmed before the call returns: the update counter rises (`update_success`)
or the update was refused (`update_rejected` / `update_failure`, then `RouterError` with
Envoy's reason, and the file is put back to what is live so a restart loads a good config).

Called by the local platform (`platform.py`: start/stop/clusters), by `routing/envoy.py`
(the route configuration) and by CLI commands in other processes through `attach()`, which
reads the ports and pid from `STATE/envoy/gateway.json`.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import urllib3

from progressive import processes
from progressive.fsutil import atomic_write
from progressive.processes import LOOPBACK, ManagedProcess
from progressive.routing.base import RouterError
from progressive.waiting import wait_until

PROCESS_NAME = "envoy"
ROUTE_CONFIG_NAME = "local_route"
LISTENER_NAME = "gateway"
STAT_PREFIX = "ingress"
# Envoy takes a renamed file within a few ms (FIELD-NOTES); the bound allows for a 2-core
# machine shared with other test runs, and cluster warming (one health-check round).
CONFIRM_TIMEOUT_S = 10.0
ADMIN_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 20.0
START_ATTEMPTS = 3
# Upstream request time buckets (ms): a P99 from 1 ms to 10 s is resolvable, with the
# thresholds specs use most (300, 500 ms) as bucket bounds.
RQ_TIME_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 300, 400, 500, 600, 750, 1000, 2500,
                      5000, 10000)  # fmt: skip
# Replica readiness as Kubernetes sees it: /healthz. No panic mode: a workload with no ready
# replica gets no traffic (503), as a Service with no ready endpoints. An unready replica is
# checked every 0.25 s so it serves soon after it becomes ready; a new one is checked at once.
HEALTH_CHECK = {
    "timeout": "2s",
    "interval": "1s",
    "no_traffic_interval": "1s",
    "unhealthy_interval": "0.25s",
    "unhealthy_threshold": 3,
    "healthy_threshold": 1,
    "http_health_check": {"path": "/healthz"},
}
# A new replica takes traffic once Envoy's first health check passed; set_clusters waits
# for that this long (the check starts at once; a replica that stays unready is no error).
NEW_HOSTS_HEALTHY_S = 1.5
_TYPES = {
    "cds": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "eds": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "lds": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "rds": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
}



class AdminError(OSError):
    """Envoy's admin did not answer, or not with 200."""

class EnvoyGateway:
    def __init__(self, state_dir: Path, *, die_with_parent: bool = True):
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / "envoy"
        self.bootstrap_path = self.dir / "bootstrap.json"
        self.admin_address_path = self.dir / "admin-address"
        self.info_path = self.dir / "gateway.json"
        self.paths = {kind: self.dir / kind / f"{kind}.json" for kind in ("cds", "lds", "rds")}
        self.die_with_parent = die_with_parent
        self.admin_port: int | None = None
        self.listener_port: int | None = None
        self._process: ManagedProcess | None = None
        self._lock = threading.RLock()  # with config.lock: one configuration change at a time
        self._lock_depth = 0
        self._pool: urllib3.HTTPConnectionPool | None = None

    # -- facts ------------------------------------------------------------------------------

    @property
    def listener_url(self) -> str:
        if self.listener_port is None:
            raise RouterError("the Envoy gateway has not been started")
        return f"http://{LOOPBACK}:{self.listener_port}"

    @property
    def admin_url(self) -> str:
        if self.admin_port is None:
            raise RouterError("the Envoy gateway has not been started")
        return f"http://{LOOPBACK}:{self.admin_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def version(self) -> str:
        """Envoy's release, e.g. `1.40.0` (from the binary when the gateway is down)."""
        if self.alive():
            return self._admin_json("/server_info")["version"].split("/")[1]
        out = subprocess.run([processes.find_binary("envoy"), "--version"], capture_output=True,
                             text=True, timeout=30, check=True).stdout  # fmt: skip
        return out.split("version:", 1)[1].split("/")[1]

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start Envoy with the current config files (empty ones on a fresh state dir).

        An Envoy still recorded in this state dir (a crashed harness's) is stopped first:
        two processes watching the same files would both serve.
        """
        binary = processes.find_binary("envoy")
        for rec in processes.recorded_processes(self.state_dir):
            if rec.get("name") == PROCESS_NAME and isinstance(rec.get("pid"), int):
                processes.stop_pid(rec["pid"], rec.get("create_time"))
        for kind in ("cds", "rds"):
            if not self.paths[kind].exists():
                self._write(kind, [] if kind == "cds" else [empty_route_config()])  # fmt: skip
        port = self.listener_port or free_listener_port(self.paths["lds"])
        self._write("lds", [self._listener(port)])
        self._launch(binary, admin_port=self.admin_port or 0)
        self._bind_listener()
        self._write_info()

    def restart(self) -> None:
        """Stop (if running) and start again on the same ports with the current files."""
        if self.admin_port is None:
            raise RouterError("restart() before start()")
        self.stop()
        binary = processes.find_binary("envoy")
        try:
            self._launch(binary, admin_port=self.admin_port)
        except RouterError:  # the admin port was taken while Envoy was down: let the OS pick
            self._launch(binary, admin_port=0)
        self._bind_listener()
        self._write_info()

    def stop(self) -> None:
        """Stop the process; the config files stay (restart() and diagnostics use them)."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    @classmethod
    def attach(cls, state_dir: Path) -> EnvoyGateway:
        """Reconnect to the Envoy a `start()` in another process recorded in gateway.json."""
        gw = cls(state_dir)
        try:
            info, gw._process = processes.read_process_info(gw.info_path, PROCESS_NAME)
        except (OSError, ValueError, KeyError) as exc:
            raise RouterError(f"no Envoy gateway recorded in {gw.info_path}: {exc}") from None
        gw.admin_port = int(info["admin_port"])
        gw.listener_port = int(info["listener_port"])
        gw.die_with_parent = bool(info.get("die_with_parent", True))
        return gw

    # -- configuration ----------------------------------------------------------------------

    def set_clusters(self, clusters: dict[str, list[tuple[str, int]]]) -> None:
        """Replace all clusters (name -> endpoints); an empty list is a cluster with no hosts.

        Returns once Envoy took every change and warmed new clusters, and new replicas passed
        their first health check (or NEW_HOSTS_HEALTHY_S passed: a never-ready one stays out).
        """
        for name in clusters:
            if not name or "/" in name or name.startswith("."):
                raise RouterError(f"bad cluster name {name!r}")
        with self.exclusive():
            current = self.cluster_endpoints()
            live = set(current)
            added: set[tuple[str, str, int]] = set()
            for name, eps in clusters.items():
                old = set(current.get(name, []))
                added |= {(name, h, p) for h, p in eps if (h, p) not in old}
                if name not in live:  # read by the cluster when it is created below
                    self._write(f"eds/{name}", [load_assignment(name, eps)])
                elif old != set(eps):
                    self._update(f"eds/{name}", [load_assignment(name, eps)])
            if set(clusters) != live:
                self._update("cds", [cluster(n, self._path(f"eds/{n}")) for n in sorted(clusters)])
                wait_until(lambda: self.stats(r"^cluster_manager\.warming_clusters$").get(
                    "cluster_manager.warming_clusters", 1) == 0,
                    timeout=CONFIRM_TIMEOUT_S, what="Envoy to warm the new clusters")  # fmt: skip
                for gone in live - set(clusters):
                    shutil.rmtree(self._path(f"eds/{gone}").parent, ignore_errors=True)
        if added:
            try:
                wait_until(lambda: added <= self.healthy_hosts(), timeout=NEW_HOSTS_HEALTHY_S,
                           what="new replicas to pass Envoy's health check")  # fmt: skip
            except TimeoutError:
                pass

    def cluster_endpoints(self) -> dict[str, list[tuple[str, int]]]:
        """Clusters and endpoints in the config files (what Envoy loads on restart)."""
        try:
            names = [c["name"] for c in json.loads(self.paths["cds"].read_text())["resources"]]
        except (OSError, ValueError, KeyError):
            return {}
        out = {}
        for name in names:
            try:
                cla = json.loads(self._path(f"eds/{name}").read_text())["resources"][0]
                lb = [
                    e for group in cla.get("endpoints", []) for e in group.get("lb_endpoints", [])
                ]
                out[name] = [(e["endpoint"]["address"]["socket_address"]["address"],
                              e["endpoint"]["address"]["socket_address"]["port_value"]) for e in lb]  # fmt: skip
            except (OSError, ValueError, KeyError, IndexError):
                out[name] = []
        return out

    def set_route_config(self, route_config: dict) -> None:
        """Replace the RouteConfiguration (its name is forced to the listener's)."""
        self._update("rds", [{**route_config, "name": ROUTE_CONFIG_NAME}])

    def route_config_file(self) -> dict:
        """The RouteConfiguration in the RDS file (what Envoy loads on restart)."""
        return json.loads(self.paths["rds"].read_text())["resources"][0]

    def config_dump(self, resource: str | None = None) -> dict:
        """Envoy's live configuration (admin `/config_dump`, optionally one `resource`)."""
        path = "/config_dump" + (f"?resource={resource}" if resource else "")
        return self._admin_json(path)

    def live_route_config(self) -> dict | None:
        """The RouteConfiguration Envoy is serving now, from `/config_dump`."""
        dump = self.config_dump("dynamic_route_configs")
        for entry in dump.get("configs", []):
            rc = entry.get("route_config", {})
            if rc.get("name") == ROUTE_CONFIG_NAME:
                return rc
        return None

    def stats(self, regex: str | None = None) -> dict[str, int]:
        """Counters and gauges by name (admin `/stats`), optionally filtered by a regex."""
        params = {"format": "json"}
        if regex:
            params["filter"] = regex
        out: dict[str, int] = {}
        for entry in self._admin_json("/stats", params).get("stats", []):
            if isinstance(entry.get("value"), int):  # counters and gauges, not text readouts
                out[entry["name"]] = entry["value"]
        return out

    # -- internals --------------------------------------------------------------------------

    def _admin(self, path: str, params: dict | None = None) -> urllib3.BaseHTTPResponse:
        """GET on the admin port through a keep-alive pool (urllib3: a third of the CPU of a
        requests Session per call, which the engine's tick and every route change pay);
        AdminError when it does not answer 200."""
        port = self.admin_port
        if port is None:
            raise AdminError("the gateway has no admin port: it was never started")
        if self._pool is None or self._pool.port != port:
            self._pool = urllib3.HTTPConnectionPool(LOOPBACK, port, maxsize=8, block=False,
                                                    retries=False, timeout=ADMIN_TIMEOUT_S)
        try:
            resp = self._pool.request("GET", path, fields=params)
        except urllib3.exceptions.HTTPError as exc:
            raise AdminError(f"Envoy's admin {LOOPBACK}:{port}{path}: {exc}") from None
        if path != "/ready" and resp.status != 200:
            raise AdminError(f"Envoy's admin {path} answered {resp.status}: {resp.data[:200]!r}")
        return resp

    def _admin_json(self, path: str, params: dict | None = None) -> dict:
        return json.loads(self._admin(path, params).data)

    def _path(self, kind: str) -> Path:
        """The file of a resource kind: `cds`, `lds`, `rds`, or `eds/CLUSTER`."""
        return self.paths.get(kind) or self.dir / kind / "eds.json"

    def _write(self, kind: str, resources: list[dict]) -> str:
        version = str(time.time_ns())
        rtype = _TYPES[kind.split("/")[0]]
        doc = {"version_info": version, "resources": [{"@type": rtype, **r} for r in resources]}
        atomic_write(self._path(kind), json.dumps(doc, separators=(",", ":")))
        return version

    def _counters(self, kind: str) -> dict[str, int]:
        prefix = {
            "cds": "cluster_manager.cds.",
            "lds": "listener_manager.lds.",
            "rds": f"http.{STAT_PREFIX}.rds.{ROUTE_CONFIG_NAME}.",
        }.get(kind) or f"cluster.{kind.removeprefix('eds/')}."
        stats = self.stats("^" + re.escape(prefix) + "update_")
        return {k.removeprefix(prefix): v for k, v in stats.items()}

    def healthy_hosts(self) -> set[tuple[str, str, int]]:
        """(cluster, address, port) of every host Envoy would send traffic to now."""
        out = set()
        doc = self._admin_json("/clusters", {"format": "json"})
        for status in doc.get("cluster_statuses", []):
            for host in status.get("host_statuses", []):
                health = host.get("health_status", {})
                if health.get("eds_health_status") == "HEALTHY" and len(health) == 1:
                    addr = host["address"]["socket_address"]
                    out.add((status["name"], addr["address"], addr["port_value"]))
        return out

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One configuration change at a time, across threads and processes (CLI commands)."""
        with self._lock:
            if self._lock_depth:
                yield
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.dir / "config.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _update(self, kind: str, resources: list[dict]) -> None:
        """Write one resource file and wait until Envoy took it (or raise with its reason)."""
        with self.exclusive():
            path = self._path(kind)
            previous = path.read_text() if path.exists() else None
            before = self._counters(kind)
            log_offset = self._log_size()
            self._write(kind, resources)
            try:
                self._confirm(kind, before, log_offset)
            except RouterError:
                if previous is not None:  # the file again says what is live
                    atomic_write(path, previous)
                raise

    def _confirm(self, kind: str, before: dict[str, int], log_offset: int) -> None:
        def outcome() -> str | None:
            now = self._counters(kind)
            for bad in ("update_rejected", "update_failure"):
                if now.get(bad, 0) > before.get(bad, 0):
                    return bad
            if now.get("update_success", 0) > before.get("update_success", 0):
                return "ok"
            if not self.alive():
                return "exited"
            return None

        try:
            result = wait_until(
                outcome,
                timeout=CONFIRM_TIMEOUT_S,
                poll=0.002,
                max_poll=0.01,
                what=f"Envoy to take the {kind.upper()} update",
            )
        except TimeoutError as exc:
            raise RouterError(f"{exc}\n{self._log_since(log_offset)}") from None
        if result != "ok":
            raise RouterError(
                f"Envoy refused the {kind.upper()} update ({result}): "
                f"{self._reason(log_offset) or 'see ' + str(self._log_path())}"
            )

    def _launch(self, binary: str, admin_port: int) -> None:
        """Start Envoy and wait for its admin to answer; RouterError if it exits."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin_address_path.unlink(missing_ok=True)
        atomic_write(
            self.bootstrap_path, json.dumps(self._bootstrap(admin_port), indent=1)
        )
        argv = [
            binary,
            "--config-path", str(self.bootstrap_path),
            "--admin-address-path", str(self.admin_address_path),
            "--disable-hot-restart",
            "--reject-unknown-dynamic-fields",  # a typo in a rendered config is an error
            "--concurrency", str(max(1, min(4, os.cpu_count() or 1))),
            "--log-level", "info",
            "--component-log-level", "upstream:warn,main:warn,runtime:warn,admin:warn",
        ]  # fmt: skip
        log_offset = self._log_size()
        proc = processes.start_process(
            PROCESS_NAME, argv, self.state_dir, die_with_parent=self.die_with_parent
        )
        self._process = proc

        def admin_up() -> str | None:
            if not proc.alive():
                return "exited"
            text = (
                self.admin_address_path.read_text().strip()
                if self.admin_address_path.exists()
                else ""
            )
            if not text:
                return None
            self.admin_port = int(text.rsplit(":", 1)[1])
            return "up" if self._admin("/ready").status == 200 else None

        try:
            result = wait_until(admin_up, timeout=READY_TIMEOUT_S, what="Envoy's admin /ready")
        except TimeoutError as exc:
            self.stop()
            raise RouterError(f"{exc}\n{self._log_since(log_offset)}") from None
        if result != "up":
            self.stop()
            raise RouterError(f"Envoy exited during start:\n{self._log_since(log_offset)}")

    def _bind_listener(self) -> None:
        """Make sure the listener is bound; on a port clash move it to another free port."""
        last = ""
        for _ in range(START_ATTEMPTS):
            port = _lds_port(self.paths["lds"])
            if self._listener_active(port):
                self.listener_port = port
                return
            last = self._log_since(0, lines=10)
            try:
                self._update("lds", [self._listener(processes.free_port())])
            except RouterError as exc:
                last = str(exc)
        self.stop()
        raise RouterError(
            f"Envoy could not bind its listener after {START_ATTEMPTS} attempts:\n{last}"
        )

    def _listener_active(self, port: int) -> bool:
        listeners = self._admin_json("/listeners", {"format": "json"})
        for status in listeners.get("listener_statuses", []):
            addr = status.get("local_address", {}).get("socket_address", {})
            if status.get("name") == LISTENER_NAME and addr.get("port_value") == port:
                return True
        return False

    def _bootstrap(self, admin_port: int) -> dict:
        cds, lds = file_source(self.paths["cds"]), file_source(self.paths["lds"])
        return {
            "node": {"id": "progressive-gateway", "cluster": "progressive"},
            "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": admin_port}}},
            "dynamic_resources": {"cds_config": cds, "lds_config": lds},
            "stats_flush_interval": "0.5s",  # histograms merge at flush; Prometheus scrapes at 0.5s
            "stats_config": {
                "histogram_bucket_settings": [{
                    "match": {"safe_regex": {"regex": r"^cluster\..*upstream_rq_time$"}},
                    "buckets": list(RQ_TIME_BUCKETS_MS),
                }],
            },
        }  # fmt: skip

    def _listener(self, port: int) -> dict:
        hcm = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": STAT_PREFIX,
            "codec_type": "AUTO",
            "rds": {"route_config_name": ROUTE_CONFIG_NAME, "config_source": file_source(self.paths["rds"])},
            "http_filters": [{
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }],
        }  # fmt: skip
        return {
            "name": LISTENER_NAME,
            "address": {"socket_address": {"address": LOOPBACK, "port_value": port}},
            # With SO_REUSEPORT two gateways that picked the same port would share its traffic
            # silently; without it the second one fails to bind and moves (_bind_listener).
            "enable_reuse_port": False,
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm,
            }]}],
        }  # fmt: skip

    def _write_info(self) -> None:
        assert self._process is not None
        processes.write_process_info(self.info_path, self._process, self.die_with_parent,
                                     admin_port=self.admin_port,
                                     listener_port=self.listener_port)

    def _log_path(self) -> Path:
        return self.state_dir / "logs" / f"{PROCESS_NAME}.log"

    def _log_size(self) -> int:
        try:
            return self._log_path().stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int, lines: int = 30) -> str:
        try:
            with open(self._log_path(), "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _reason(self, log_offset: int) -> str:
        """Envoy's own words for a refused update, from its log (it may lag a few ms)."""

        def found() -> str | None:
            for line in self._log_since(log_offset, lines=200).splitlines():
                if "rejected" in line or "update failed" in line.lower():
                    return line.split("] ", 1)[-1].strip()
            return None

        try:
            return wait_until(found, timeout=1.0, poll=0.01, what="the reason in Envoy's log")
        except TimeoutError:
            return ""


def cluster(name: str, eds_path: Path) -> dict:
    """One upstream cluster (a workload), its endpoints from a file, health-checked on /healthz."""
    return {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": file_source(eds_path)},
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "health_checks": [HEALTH_CHECK],
        # A replica taken out of the endpoints gets no new request even while it still passes
        # health checks (Envoy's default keeps it): the workloads stop it right after.
        "ignore_health_on_host_removal": True,
        # Istio lifts Envoy's default of 3 concurrent retries per cluster (to 2^32-1): with
        # the default, retries of a dead replica's refused connections overflow (503) under load.
        "circuit_breakers": {"thresholds": [{"max_retries": 4294967295}]},
        # Health changes reach the workers at once, not merged over Envoy's default 1 s
        # window: a replica that passed its first check serves when set_clusters returns.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0.0}, "update_merge_window": "0s"},
    }  # fmt: skip


def file_source(path: Path) -> dict:
    """A config source read from `path`, reloaded when a file is renamed into its directory."""
    return {
        "path_config_source": {"path": str(path), "watched_directory": {"path": str(path.parent)}},
        "resource_api_version": "V3",
    }


def load_assignment(name: str, endpoints: list[tuple[str, int]]) -> dict:
    lb_endpoints = [
        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
        for host, port in endpoints
    ]
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": lb_endpoints}]}


def empty_route_config() -> dict:
    """Routes nothing (404): the gateway before any router applied a route."""
    return {"name": ROUTE_CONFIG_NAME, "virtual_hosts": []}


def free_listener_port(lds_path: Path) -> int:
    """The port in an existing LDS file (a restart keeps its URL), else a free one."""
    try:
        return _lds_port(lds_path)
    except (OSError, ValueError, KeyError, IndexError):
        return processes.free_port()


def _lds_port(lds_path: Path) -> int:
    doc = json.loads(lds_path.read_text())
    return int(doc["resources"][0]["address"]["socket_address"]["port_value"])
