"""The local platform's Prometheus server: start, stop, restart, scrape targets, Istio rules.

The local platform (and the integration tests) run the real `prometheus` binary on a port of
127.0.0.1 chosen at start, with its config, data and scrape targets under `STATE/prometheus/`.
Targets come from file-based discovery (`targets/*.json`, replaced atomically), so Envoy and app
replicas can come and go without a restart.

Isolation: `start()` begins with an empty TSDB and no targets, so a series of an earlier run
(a gateway long gone still reading `up == 1` within the 5-minute lookback, a canary's old
errors) can never reach this run's checks, whoever writes the query (Flagger's built-in ones
carry no run label of ours). `restart()` keeps both: it is the same run. `forget()` deletes the
samples of some series up to now through the admin API, for a platform that outlives a run. Recording rules republish Envoy's per-cluster
statistics under Istio's names (`istio_requests_total`, `istio_request_duration_milliseconds_*`
with `reporter="destination"`), so Flagger's built-in Istio queries run here with the same text.

A system Prometheus (Debian's service on :9090) is never used nor collided with.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import requests
import yaml

from progressive.errors import EnvironmentFailed
from progressive.fsutil import atomic_write
from progressive.metrics.builtin import prometheus_duration
from progressive.metrics.prometheus import delete_series
from progressive.platforms.local.envoy import RQ_TIME_BUCKETS_MS
from progressive.processes import (
    LOOPBACK,
    ManagedProcess,
    find_binary,
    free_port,
    read_process_info,
    start_process,
    write_process_info,
)
from progressive.routing.names import CLUSTER_NAME_REGEX
from progressive.waiting import wait_until

SCRAPE_INTERVAL_S = 0.5  # short, so a time-scaled 1.5 s analysis interval sees fresh data
EVALUATION_INTERVAL_S = 0.5
# Prometheus hands newly discovered targets to its scrape loops at most every 5 s.
TARGET_UPDATE_S = 5.0
READY_TIMEOUT_S = 30.0  # ready in < 2 s when idle; WAL replay after a kill and a busy host add more
PROCESS_NAME = "prometheus"
_START_ATTEMPTS = 3


class PrometheusFailed(EnvironmentFailed, RuntimeError):
    """Prometheus exited or did not become ready; the message carries its log tail."""


def istio_recording_rules() -> dict:
    """Rules deriving Istio-named series from Envoy's per-cluster statistics.

    Clusters named `NAMESPACE_WORKLOAD` (routing/names.py) are split into
    `destination_workload_namespace` and `destination_workload`; Envoy's own labels are dropped
    by the `sum by`. `envoy_cluster_upstream_rq{envoy_response_code}` counts every response the
    router charged to the cluster, including the 503s Envoy generates itself for a refused
    connection or a cluster with no endpoint (unlike `envoy_cluster_upstream_rq_total`); the
    tests pin that down. A recorded sum of counters is still a counter: rate() works on it.

    Envoy creates its per-code counters and latency buckets at a cluster's first response, and
    rate() needs two samples of a series, so a canary's first requests after a step would be
    invisible for a scrape or two: a "no data" check (Flagger's well-known first-step "no
    values found"). Every cluster therefore also gets 0-valued `response_code="200"` and
    bucket series from the moment it exists (`or` keeps the real series where there is one);
    the real counter continues from 0, so rate() counts a canary's requests from the first.
    """
    cluster = f'job="envoy", envoy_cluster_name=~"{CLUSTER_NAME_REGEX}"'

    def by_workload(selector: str, *extra: str) -> str:
        split = (
            f'label_replace(label_replace({selector}, "destination_workload_namespace", "$1", '
            f'"envoy_cluster_name", "{CLUSTER_NAME_REGEX}"), "destination_workload", "$2", '
            f'"envoy_cluster_name", "{CLUSTER_NAME_REGEX}")'
        )
        keep = ", ".join(("destination_workload_namespace", "destination_workload", *extra))
        return f"sum by ({keep}) ({split})"

    def zero(label: str, value: str) -> str:
        """A 0-valued series for every cluster (from a counter Envoy creates with the cluster)."""
        return (f'label_replace(envoy_cluster_upstream_rq_completed{{{cluster}}} * 0, '
                f'"{label}", "{value}", "", "")')

    requests_expr = by_workload(
        f'label_replace(envoy_cluster_upstream_rq{{{cluster}}}, "response_code", "$1", '
        '"envoy_response_code", "(.*)")',
        "response_code",
    ) + " or " + by_workload(zero("response_code", "200"), "response_code")
    bucket_expr = " or ".join(
        [by_workload(f"envoy_cluster_upstream_rq_time_bucket{{{cluster}}}", "le")]
        + [by_workload(zero("le", le), "le") for le in (*map(str, RQ_TIME_BUCKETS_MS), "+Inf")]
    )
    rules = [
        {"record": "istio_requests_total", "expr": requests_expr, "labels": _istio_labels()},
        {
            "record": "istio_request_duration_milliseconds_bucket",
            "expr": bucket_expr,
            "labels": _istio_labels(),
        },
    ]
    for part in ("sum", "count"):
        rules.append(
            {
                "record": f"istio_request_duration_milliseconds_{part}",
                "expr": by_workload(f"envoy_cluster_upstream_rq_time_{part}{{{cluster}}}"),
                "labels": _istio_labels(),
            }
        )
    return {"groups": [{"name": "istio-from-envoy", "rules": rules}]}


def _istio_labels() -> dict[str, str]:
    return {"reporter": "destination"}  # a fresh dict per rule: no YAML anchors in the file


class PrometheusServer:
    """One Prometheus process; `url` is stable across `restart()`."""

    def __init__(self, state_dir: Path, *, die_with_parent: bool = True):
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / "prometheus"
        self.targets_dir = self.dir / "targets"
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "prometheus.yml"
        self.rules_path = self.dir / "rules.yml"
        self.info_path = self.dir / "server.json"
        self.port: int | None = None
        self.die_with_parent = die_with_parent
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise PrometheusFailed("Prometheus has not been started")
        return f"http://{LOOPBACK}:{self.port}"

    # lifecycle

    def start(self) -> None:
        """Start on a free port with no data and no targets, and wait until ready (no-op when
        already running)."""
        if self.alive():
            return
        binary = find_binary("prometheus")  # MissingBinary names the install command
        for stale in (self.data_dir, self.targets_dir):
            shutil.rmtree(stale, ignore_errors=True)
        self._write_config()
        last = ""
        for _ in range(_START_ATTEMPTS):
            port = free_port()
            clash, last = self._launch(binary, port)
            if not clash:
                self._write_info()
                return
        raise PrometheusFailed(f"no free port after {_START_ATTEMPTS} attempts:\n{last}")

    def restart(self) -> None:
        """Stop (if running) and start again on the same port with the same data."""
        if self.port is None:
            raise PrometheusFailed("restart() before start()")
        self.stop()
        clash, log = self._launch(find_binary("prometheus"), self.port)
        if clash:
            raise PrometheusFailed(f"port {self.port} was taken while Prometheus was down:\n{log}")
        self._write_info()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def is_ready(self) -> bool:
        if self.port is None:
            return False
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except requests.RequestException:
            return False

    def version(self) -> str:
        """The server's version (`2.42.0+ds`), from the running server or the binary."""
        if self.is_ready():
            info = requests.get(f"{self.url}/api/v1/status/buildinfo", timeout=2).json()
            return str(info["data"]["version"])
        out = subprocess.run(  # noqa: S603 - argv list, no shell
            [find_binary("prometheus"), "--version"], capture_output=True, text=True, timeout=10
        )
        words = (out.stdout or out.stderr).split()
        return words[2] if len(words) > 2 and words[1] == "version" else "unknown"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @classmethod
    def attach(cls, state_dir: Path) -> PrometheusServer:
        """Reconnect to the server a previous `start()` recorded in STATE/prometheus/server.json."""
        server = cls(state_dir)
        try:
            info, server._process = read_process_info(server.info_path, PROCESS_NAME)
        except (OSError, ValueError, KeyError) as exc:
            raise PrometheusFailed(f"no Prometheus recorded in {server.info_path}: {exc}") from None
        server.port = int(info["port"])
        server.die_with_parent = bool(info.get("die_with_parent", True))
        return server

    # scrape targets (picked up by file discovery within TARGET_UPDATE_S, no restart)

    def set_envoy_target(self, host_port: str) -> None:
        self._write_targets("envoy.json", [host_port], {})

    def set_app_targets(self, workload: str, namespace: str, addrs: list[str]) -> None:
        """Replace the scrape targets of one workload (an empty list removes them)."""
        labels = {"workload": workload, "namespace": namespace}
        self._write_targets(f"apps_{namespace}_{workload}.json", list(addrs), labels)

    def forget(self, selectors: list[str]) -> None:
        """Delete every sample so far of the series matching any of `selectors`."""
        delete_series(self.url, selectors)

    # internals

    def _write_targets(self, file_name: str, addrs: list[str], labels: dict[str, str]) -> None:
        groups = [{"targets": addrs, "labels": labels}] if addrs else []
        atomic_write(self.targets_dir / file_name, json.dumps(groups, indent=1))

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        envoy_targets = self.targets_dir / "envoy.json"
        if not envoy_targets.exists():
            atomic_write(envoy_targets, "[]")

        def discovery(pattern: str) -> list[dict]:
            return [{"files": [str(self.targets_dir / pattern)], "refresh_interval": "1s"}]

        config = {
            "global": {
                "scrape_interval": prometheus_duration(SCRAPE_INTERVAL_S),
                "scrape_timeout": prometheus_duration(SCRAPE_INTERVAL_S),
                "evaluation_interval": prometheus_duration(EVALUATION_INTERVAL_S),
            },
            "rule_files": [str(self.rules_path)],
            "scrape_configs": [
                {
                    "job_name": "envoy",
                    "metrics_path": "/stats/prometheus",
                    "file_sd_configs": discovery("envoy.json"),
                },
                {
                    "job_name": "apps",
                    "metrics_path": "/metrics",
                    "file_sd_configs": discovery("apps_*.json"),
                },
            ],
        }
        atomic_write(self.rules_path, yaml.safe_dump(istio_recording_rules(), sort_keys=False))
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def _launch(self, binary: str, port: int) -> tuple[bool, str]:
        """Start on `port` and wait until ready; (True, log) when the port was taken."""
        log_path = self.state_dir / "logs" / f"{PROCESS_NAME}.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        argv = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",  # forget(): on 127.0.0.1 only, like everything here
            "--log.level=warn",
        ]
        self.port = port
        proc = start_process(
            PROCESS_NAME, argv, self.state_dir, die_with_parent=self.die_with_parent
        )
        self._process = proc

        def settled() -> str | None:
            if not proc.alive():
                return "exited"
            return "ready" if self.is_ready() else None

        try:
            outcome = wait_until(settled, timeout=READY_TIMEOUT_S, what="Prometheus /-/ready")
        except TimeoutError as exc:
            self.stop()
            raise PrometheusFailed(f"{exc}\n{_log_since(log_path, log_start)}") from None
        if outcome == "ready":
            return False, ""
        self.stop()
        log = _log_since(log_path, log_start)
        if "address already in use" in log:
            return True, log
        raise PrometheusFailed(f"Prometheus exited during start:\n{log}")

    def _write_info(self) -> None:
        assert self._process is not None
        write_process_info(self.info_path, self._process, self.die_with_parent,
                           port=self.port, url=self.url)


def _log_since(path: Path, offset: int, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
