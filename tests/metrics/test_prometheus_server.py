"""The local Prometheus server: start, ready, restart on the same port, attach, targets."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest
import requests

from progressive.errors import MissingBinary
from progressive.metrics.prometheus import PrometheusProvider
from progressive.platforms.local import prometheus as prom_module
from progressive.platforms.local.prometheus import (
    SCRAPE_INTERVAL_S,
    TARGET_UPDATE_S,
    PrometheusFailed,
    PrometheusServer,
)
from progressive.processes import free_port
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

# A target change reaches the scrape loop within TARGET_UPDATE_S, then one scrape and one query.
TARGET_BOUND_S = 3 * (TARGET_UPDATE_S + SCRAPE_INTERVAL_S)
# Process exit after SIGKILL is immediate; allow for a loaded machine.
EXIT_BOUND_S = 10.0


def _up(provider: PrometheusProvider, selector: str) -> float:
    return provider.run_query(f"sum(up{{{selector}}})")


def test_starts_on_loopback_ready_with_half_second_scrape_and_the_istio_rules(prometheus, state_dir):
    assert prometheus.url.startswith("http://127.0.0.1:")
    assert prometheus.port != 9090
    assert prometheus.alive() and prometheus.is_ready()
    assert prometheus.version()[0].isdigit()
    info = json.loads((state_dir / "prometheus" / "server.json").read_text())
    assert info["port"] == prometheus.port and info["pid"] == prometheus.pid
    assert (state_dir / "pids" / "prometheus.json").exists()

    config = requests.get(f"{prometheus.url}/api/v1/status/config", timeout=5).json()
    assert "scrape_interval: 500ms" in config["data"]["yaml"]
    assert "evaluation_interval: 500ms" in config["data"]["yaml"]
    groups = requests.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    recorded = {r["name"] for g in groups for r in g["rules"]}
    assert {"istio_requests_total", "istio_request_duration_milliseconds_bucket"} <= recorded
    assert all(r["health"] != "err" for g in groups for r in g["rules"])


def test_restart_after_a_kill_keeps_port_and_data(prometheus):
    provider = PrometheusProvider(prometheus.url)
    # Scraping Prometheus' own port at Envoy's path answers 404: `up` is recorded as 0.
    prometheus.set_envoy_target(prometheus.url.removeprefix("http://"))
    wait_until(
        lambda: provider.run_query('count_over_time(up{job="envoy"}[1h])') >= 2,
        timeout=TARGET_BOUND_S,
        what="two scrapes of the envoy target",
    )
    url, pid = prometheus.url, prometheus.pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not prometheus.alive(), timeout=EXIT_BOUND_S, what="Prometheus to die")
    assert not provider.is_online()

    prometheus.restart()
    assert prometheus.url == url and prometheus.pid != pid
    assert provider.is_online()
    assert provider.run_query('count_over_time(up{job="envoy"}[1h])') >= 2  # from before


def test_attach_reconnects_from_the_state_dir(prometheus, state_dir):
    attached = PrometheusServer.attach(state_dir)
    assert attached.url == prometheus.url and attached.alive()
    attached.stop()
    wait_until(lambda: not prometheus.alive(), timeout=EXIT_BOUND_S, what="Prometheus to stop")
    assert not (state_dir / "pids" / "prometheus.json").exists()


def test_attach_without_a_recorded_server_says_so(state_dir):
    with pytest.raises(PrometheusFailed, match="no Prometheus recorded"):
        PrometheusServer.attach(state_dir)


def test_a_taken_port_is_retried_with_another(state_dir, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        monkeypatch.setattr(prom_module, "free_port", lambda: next(ports, None) or free_port())
        server = PrometheusServer(state_dir)
        try:
            server.start()
            assert server.port != busy and server.is_ready()
        finally:
            server.stop()


def test_a_missing_binary_says_how_to_install_it(state_dir, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty-path")))
    with pytest.raises(MissingBinary, match="apt-get install -y prometheus"):
        PrometheusServer(state_dir).start()


def test_app_targets_come_and_go_without_a_restart(prometheus, launch_app):
    provider = PrometheusProvider(prometheus.url)
    app = launch_app("web-1")
    pid = prometheus.pid
    prometheus.set_app_targets("web", "prod", [app.addr])
    selector = 'job="apps", workload="web", namespace="prod"'
    wait_until(lambda: _up(provider, selector) == 1, timeout=TARGET_BOUND_S, what="app up == 1")

    prometheus.set_app_targets("web", "prod", [])
    wait_until(
        lambda: (
            not requests.get(f"{prometheus.url}/api/v1/targets", timeout=5).json()["data"][
                "activeTargets"
            ]
        ),
        timeout=TARGET_BOUND_S,
        what="the app target to be dropped",
    )
    assert prometheus.pid == pid
