"""The Envoy gateway process: start, serve, statistics, refused updates, restart, stop, attach."""

from __future__ import annotations

import json
import os
import signal
import socket

import psutil
import pytest
import requests
from routing_support import HTTP_TIMEOUT_S, blast, start_backend

from progressive.platforms.local.envoy import RQ_TIME_BUCKETS_MS, EnvoyGateway
from progressive.routing.base import RouterError
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

CLUSTER = "test_web"
HEALTHY_BOUND_S = 10.0  # a new host's first health check (1 s interval) on a loaded machine


def route_to(*weights: tuple[str, int]) -> dict:
    clusters = [{"name": name, "weight": w} for name, w in weights]
    return {"virtual_hosts": [{"name": "web", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": clusters}}}]}],
        "response_headers_to_add": [{"header": {"key": "x-progressive-cluster",
                                                "value": "%UPSTREAM_CLUSTER%"}}]}  # fmt: skip


@pytest.fixture
def serving(gateway: EnvoyGateway, backends) -> EnvoyGateway:
    gateway.set_clusters({CLUSTER: [backends["v1"].endpoint], "test_empty": []})
    gateway.set_route_config(route_to((CLUSTER, 100), ("test_empty", 0)))
    return gateway


def get(gw: EnvoyGateway, path: str = "/") -> requests.Response:
    return requests.get(gw.listener_url + path, timeout=HTTP_TIMEOUT_S)


def test_gateway_serves_through_a_cluster(serving: EnvoyGateway):
    resp = get(serving)
    assert resp.status_code == 200
    assert resp.headers["X-Version"] == "v1"
    assert resp.headers["x-progressive-cluster"] == CLUSTER
    assert serving.listener_url.startswith("http://127.0.0.1:")
    assert serving.admin_url.startswith("http://127.0.0.1:")
    assert serving.version() == "1.40.0"
    info = json.loads(serving.info_path.read_text())
    assert (info["pid"], info["listener_port"]) == (serving.pid, serving.listener_port)


def test_a_cluster_without_endpoints_exists_and_answers_503(serving: EnvoyGateway):
    dump = serving.config_dump("dynamic_active_clusters")
    names = {c["cluster"]["name"] for c in dump["configs"]}
    assert names == {CLUSTER, "test_empty"}
    serving.set_route_config(route_to(("test_empty", 1)))
    assert get(serving).status_code == 503


def test_unready_and_dead_replicas_get_no_traffic(gateway: EnvoyGateway, backends, state_dir):
    """Envoy health-checks /healthz like a Service's readiness: such replicas are skipped."""
    never_ready = start_backend(state_dir, "never-ready", "--never-ready")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = ("127.0.0.1", s.getsockname()[1])  # nothing listens there once closed
    gateway.set_clusters({CLUSTER: [backends["v1"].endpoint, dead, never_ready.endpoint]})
    gateway.set_route_config(route_to((CLUSTER, 1)))
    assert blast(gateway.listener_url + "/healthz", 200, concurrency=4).versions == {"v1": 200}


def test_replica_changes_serve_at_once_and_keep_the_counters(serving: EnvoyGateway, backends):
    """Endpoints change in place (EDS): per-code counters run on for Prometheus' rate()."""
    assert blast(serving.listener_url, 10, concurrency=1).versions == {"v1": 10}
    serving.set_clusters({CLUSTER: [backends["v1"].endpoint, backends["v2"].endpoint],
                          "test_empty": []})  # fmt: skip
    # set_clusters waits NEW_HOSTS_HEALTHY_S for the health check, then goes on (a slow replica
    # must not hold a weight change); the exact round-robin split needs both hosts healthy.
    wait_until(lambda: (CLUSTER, *backends["v2"].endpoint) in serving.healthy_hosts(),
               timeout=HEALTHY_BOUND_S, what="v2 to pass Envoy's health check")
    assert blast(serving.listener_url, 10, concurrency=1).versions == {"v1": 5, "v2": 5}
    serving.set_clusters({CLUSTER: [backends["v2"].endpoint], "test_empty": []})
    assert blast(serving.listener_url, 10, concurrency=1).versions == {"v2": 10}
    counters = serving.stats(rf"^cluster\.{CLUSTER}\.upstream_rq_(200|total)$")
    assert counters == {
        f"cluster.{CLUSTER}.upstream_rq_200": 30,
        f"cluster.{CLUSTER}.upstream_rq_total": 30,
    }
    assert serving.cluster_endpoints() == {CLUSTER: [backends["v2"].endpoint], "test_empty": []}


def test_statistics_give_prometheus_per_cluster_codes_and_latency_buckets(serving: EnvoyGateway):
    session = requests.Session()
    for _ in range(20):
        session.get(serving.listener_url + "/", timeout=HTTP_TIMEOUT_S)
    session.get(serving.listener_url + "/status?code=500", timeout=HTTP_TIMEOUT_S)

    def exposition() -> str:
        text = requests.get(serving.admin_url + "/stats/prometheus", timeout=HTTP_TIMEOUT_S).text
        # histograms are merged at each stats flush (1 s)
        return text if f'envoy_cluster_name="{CLUSTER}",le="+Inf"}} 21' in text else ""

    text = wait_until(exposition, timeout=10, what="the request time histogram to be flushed")
    assert (
        f'envoy_cluster_upstream_rq{{envoy_response_code="200",envoy_cluster_name="{CLUSTER}"}} 20'
        in text
    )
    assert (
        f'envoy_cluster_upstream_rq{{envoy_response_code="500",envoy_cluster_name="{CLUSTER}"}} 1'
        in text
    )
    buckets = [line.split('le="')[1].split('"')[0] for line in text.splitlines()
               if line.startswith(f'envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name="{CLUSTER}"')]  # fmt: skip
    assert buckets == [str(b) for b in RQ_TIME_BUCKETS_MS] + ["+Inf"]


def test_refused_update_raises_with_envoys_reason_and_keeps_what_is_live(serving: EnvoyGateway):
    good_file = serving.paths["rds"].read_text()
    with pytest.raises(
        RouterError, match="Sum of weights in the weighted_cluster must be greater than 0"
    ):
        serving.set_route_config(route_to((CLUSTER, 0), ("test_empty", 0)))
    assert serving.paths["rds"].read_text() == good_file  # a restart loads the good config
    assert get(serving).headers["X-Version"] == "v1"
    with pytest.raises(RouterError, match="refused the RDS update"):
        serving.set_route_config({"virtual_hosts": [], "no_such_field": 1})
    assert get(serving).status_code == 200


def test_listener_moves_when_its_port_is_taken(state_dir, backends):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        gw = EnvoyGateway(state_dir)
        gw.listener_port = squatter.getsockname()[1]
        try:
            gw.start()
            assert gw.listener_port != squatter.getsockname()[1]
            gw.set_clusters({CLUSTER: [backends["v1"].endpoint]})
            gw.set_route_config(route_to((CLUSTER, 1)))
            assert get(gw).headers["X-Version"] == "v1"
        finally:
            gw.stop()


def test_restart_after_a_crash_keeps_ports_and_routes(serving: EnvoyGateway):
    urls = (serving.listener_url, serving.admin_url)
    os.kill(serving.pid, signal.SIGKILL)
    wait_until(lambda: not serving.alive(), timeout=10, what="Envoy to die")
    serving.restart()
    assert serving.alive()
    assert (serving.listener_url, serving.admin_url) == urls
    assert get(serving).headers["X-Version"] == "v1"


def test_stop_leaves_no_process(serving: EnvoyGateway):
    proc = psutil.Process(serving.pid)
    serving.stop()
    assert not serving.alive()
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    assert not (serving.state_dir / "pids" / "envoy.json").exists()


def test_attach_drives_the_same_envoy(serving: EnvoyGateway, backends):
    other = EnvoyGateway.attach(serving.state_dir)
    assert (other.listener_url, other.admin_url, other.pid) == (
        serving.listener_url, serving.admin_url, serving.pid)  # fmt: skip
    assert other.alive()
    other.set_clusters({CLUSTER: [backends["v2"].endpoint]})
    assert get(serving).headers["X-Version"] == "v2"


def test_start_stops_an_envoy_left_behind_in_the_same_state_dir(serving: EnvoyGateway):
    left_behind = psutil.Process(serving.pid)
    fresh = EnvoyGateway(serving.state_dir)
    fresh.start()
    try:
        assert fresh.pid != left_behind.pid
        assert not left_behind.is_running() or left_behind.status() == psutil.STATUS_ZOMBIE
        assert get(fresh).headers["X-Version"] == "v1"  # same files, same routes
    finally:
        fresh.stop()


def test_attach_without_a_recorded_gateway_is_an_error(tmp_path):
    with pytest.raises(RouterError, match="no Envoy gateway recorded"):
        EnvoyGateway.attach(tmp_path)
