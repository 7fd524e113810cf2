"""Flagger's built-in Istio checks, word for word, against the local Envoy + Prometheus.

One gateway (EnvoyGateway) routes `/<name>` to the cluster `demo_<name>-canary`, each backed by
one Croc Hunter process with its own fault knobs; Prometheus scrapes Envoy and the apps, and
its recording rules publish `istio_*` series. Traffic flows at RPS per workload for the whole
module; each test waits (bounded) until the query window holds enough requests, then judges.
The dead-upstream test comes first so that its window runs while the others fill.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from metrics_support import App, Traffic, start_app

from progressive.metrics.base import NoValues
from progressive.metrics.builtin import REQUEST_DURATION, REQUEST_SUCCESS_RATE, render
from progressive.metrics.prometheus import PrometheusProvider
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.platforms.local.prometheus import (
    EVALUATION_INTERVAL_S,
    SCRAPE_INTERVAL_S,
    TARGET_UPDATE_S,
    PrometheusServer,
)
from progressive.processes import stop_all_recorded
from progressive.routing.names import cluster_name
from progressive.stats import acceptance_interval
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

NAMESPACE = "demo"
WORKLOADS = {  # name -> Croc Hunter flags
    "healthy": (),
    "faulty": ("--error-rate", "0.05"),
    "slow": ("--latency-ms", "600"),
    "dead": (),  # killed by its test
    "idle": (),  # never receives traffic
    "paused": ("--error-rate", "0.5"),  # a fixed number of requests, then none
}
LOADED = ("healthy", "faulty", "slow", "dead")
RPS = 50.0  # per loaded workload: 200 req/s through the gateway in all
ALPHA = 1e-4  # false-alarm probability of each statistical assertion
FAULTY_ERROR_RATE = 0.05
N_MIN = 400  # requests in the window before the success rate is judged (see the faulty test)
SAMPLES_MIN = 100  # latency samples in the window before a P99 is judged
WINDOW_S = 10.0  # >= 4 scrapes (FIELD-NOTES), >= 2 of Envoy's default histogram flushes
ENVOY_FLUSH_S = 5.0  # histograms move at Envoy's stats flush: 5 s default (the gateway sets 1 s)
# A window fills after target discovery and WINDOW_S of traffic, plus the lag of Envoy's flush,
# the scrape and the rule evaluation; x3 for a 2-core machine shared with other test runs.
WINDOW_BOUND_S = 3 * (
    TARGET_UPDATE_S + WINDOW_S + ENVOY_FLUSH_S + SCRAPE_INTERVAL_S + EVALUATION_INTERVAL_S
)
TARGET_BOUND_S = 3 * (TARGET_UPDATE_S + SCRAPE_INTERVAL_S)


def workload(name: str) -> str:
    return f"{name}-canary"


@dataclass
class Mesh:
    gateway: EnvoyGateway
    provider: PrometheusProvider
    apps: dict[str, App]
    traffic: Traffic

    def url(self, name: str) -> str:
        return f"{self.gateway.listener_url}/{name}"

    def check(self, template: str, name: str, window_s: float = WINDOW_S) -> float:
        return self.provider.run_query(render(template, NAMESPACE, workload(name), window_s))

    def requests_in_window(self, name: str, extra: str = "") -> float:
        selector = f'destination_workload="{workload(name)}"{extra}'
        return self.provider.run_query(
            f"sum(increase(istio_requests_total{{{selector}}}[{WINDOW_S:g}s]))"
        )

    def samples_in_window(self, name: str) -> float:
        selector = f'destination_workload="{workload(name)}"'
        return self.provider.run_query(
            f"sum(increase(istio_request_duration_milliseconds_count{{{selector}}}[{WINDOW_S:g}s]))"
        )


def _route_config(names) -> dict:
    routes = [
        {
            "match": {"prefix": f"/{name}"},
            "route": {"cluster": cluster_name(NAMESPACE, workload(name)), "prefix_rewrite": "/"},
        }
        for name in names
    ]
    return {"virtual_hosts": [{"name": "demo", "domains": ["*"], "routes": routes}]}


def _timed(what: str, condition, timeout: float):
    started = time.monotonic()
    value = wait_until(condition, timeout=timeout, what=what)
    print(f"waited {time.monotonic() - started:.1f}s for {what}")
    return value


@pytest.fixture(scope="module")
def mesh(tmp_path_factory) -> Iterator[Mesh]:
    state_dir = tmp_path_factory.mktemp("mesh")
    gateway = EnvoyGateway(state_dir)
    prometheus = PrometheusServer(state_dir)
    traffic = Traffic([], RPS)
    try:
        apps = {n: start_app(state_dir, n, *flags) for n, flags in WORKLOADS.items()}
        gateway.start()
        gateway.set_clusters(
            {cluster_name(NAMESPACE, workload(n)): [("127.0.0.1", a.port)] for n, a in apps.items()}
        )
        gateway.set_route_config(_route_config(WORKLOADS))
        prometheus.start()
        prometheus.set_envoy_target(gateway.admin_url.removeprefix("http://"))
        for name, app in apps.items():
            prometheus.set_app_targets(workload(name), NAMESPACE, [app.addr])
        provider = PrometheusProvider(prometheus.url)
        mesh = Mesh(gateway, provider, apps, traffic)
        traffic.urls = [mesh.url(n) for n in LOADED]
        traffic.start()
        yield mesh
    finally:
        traffic.stop()
        print("client saw:", {u.rsplit("/", 1)[1]: dict(c) for u, c in traffic.statuses.items()})
        prometheus.stop()
        gateway.stop()
        stop_all_recorded(state_dir)


def test_prometheus_scrapes_envoy_and_every_app(mesh):
    up = mesh.provider.run_query
    _timed("envoy up == 1", lambda: up('sum(up{job="envoy"})') == 1, TARGET_BOUND_S)
    _timed(
        "every app up == 1, the slow one too",
        lambda: up(f'sum(up{{job="apps", namespace="{NAMESPACE}"}})') == len(WORKLOADS)
        and up(f'up{{job="apps", workload="{workload("slow")}"}}') == 1,
        TARGET_BOUND_S,
    )


def test_a_dead_upstream_shows_as_5xx(mesh):
    dead = mesh.apps["dead"]
    _timed(
        "the dead app to serve first",
        lambda: mesh.requests_in_window("dead") >= 2 * RPS,
        WINDOW_BOUND_S,
    )
    os.kill(dead.process.pid, signal.SIGKILL)
    _timed(
        "a window of only 5xx (dead)",
        lambda: mesh.check(REQUEST_SUCCESS_RATE, "dead") == 0,
        WINDOW_BOUND_S,
    )
    errors = mesh.requests_in_window("dead", ', response_code=~"5.*"')
    print(f"dead: {errors:.0f} 5xx in the last {WINDOW_S:g}s")
    assert errors >= 0.5 * RPS * WINDOW_S  # at about the rate they were sent, not a trickle

    # The FIELD-NOTES trap: Envoy's own 503s are missing from upstream_rq_total, and present in
    # the per-code counters the rules read.
    prefix = f"cluster.{cluster_name(NAMESPACE, workload('dead'))}."
    pattern = "^" + prefix.replace(".", r"\.") + "upstream_rq_"

    def counts() -> tuple[int, int, int]:
        stats = mesh.gateway.stats(pattern)
        per_code = sum(v for k, v in stats.items()
                       if k.removeprefix(prefix + "upstream_rq_").isdigit())
        return per_code, stats[prefix + "upstream_rq_completed"], stats[prefix + "upstream_rq_total"]

    # Envoy reads the counters one after the other while traffic flows: a request completing
    # between two reads tears one snapshot, so wait for a snapshot taken between requests.
    snapshots = []
    wait_until(lambda: snapshots.append(counts()) or snapshots[-1][0] == snapshots[-1][1],
               timeout=WINDOW_BOUND_S, what="a consistent snapshot of the per-code counters")
    per_code, completed, total = snapshots[-1]
    assert per_code == completed, snapshots[-3:]
    assert total < completed


def test_success_rate_of_a_healthy_app_is_100(mesh):
    _timed(
        "a full window (healthy)",
        lambda: mesh.requests_in_window("healthy") >= N_MIN,
        WINDOW_BOUND_S,
    )
    value = mesh.check(REQUEST_SUCCESS_RATE, "healthy")
    print(f"healthy success rate {value}")
    assert value == 100.0


def test_success_rate_of_an_app_failing_5_percent_is_below_99(mesh):
    # Errors are Binomial(n >= N_MIN, 0.05); the rate reaches 99 only with <= 1% errors.
    lo, _ = acceptance_interval(N_MIN, FAULTY_ERROR_RATE, ALPHA)
    assert lo > 0.01 * N_MIN, "N_MIN too small for the stated false-alarm probability"
    _timed(
        "a full window (faulty)", lambda: mesh.requests_in_window("faulty") >= N_MIN, WINDOW_BOUND_S
    )
    value = mesh.check(REQUEST_SUCCESS_RATE, "faulty")
    print(f"faulty success rate {value}")
    assert 50 < value < 99


def test_p99_of_an_app_with_600ms_added_latency_exceeds_500ms(mesh):
    _timed(
        "latency samples (slow)",
        lambda: mesh.samples_in_window("slow") >= SAMPLES_MIN,
        WINDOW_BOUND_S,
    )
    value = mesh.check(REQUEST_DURATION, "slow")
    print(f"slow P99 {value} ms")
    # Every answer took >= 600 ms (bucket bounds 500, 600, 750, 1000): the seed's 500 ms check
    # fails. Above 1000 only if > 1% of the answers were delayed 400 ms more by a stall; the
    # upper bound catches a unit error (seconds read as ms would be 1000x off).
    assert 500 < value <= 2500


def test_p99_of_a_healthy_app_is_small(mesh):
    _timed(
        "latency samples (healthy)",
        lambda: mesh.samples_in_window("healthy") >= SAMPLES_MIN,
        WINDOW_BOUND_S,
    )
    value = mesh.check(REQUEST_DURATION, "healthy")
    print(f"healthy P99 {value} ms")
    # Passes the seed's 500 ms check (the slow app, at 600 ms, fails it). Typically < 10 ms;
    # the room is for a stall of the loaded machine (> 1% of the window's answers delayed).
    assert 0 < value < 500


def test_no_traffic_is_no_values(mesh):
    for template in (REQUEST_SUCCESS_RATE, REQUEST_DURATION):
        with pytest.raises(NoValues):
            mesh.check(template, "idle")


def test_traffic_that_stopped_is_no_values_and_counts_are_exact(mesh):
    n = 150
    paused = Traffic([mesh.url("paused")], RPS).start()
    try:
        wait_until(lambda: sum(paused.statuses[mesh.url("paused")].values()) >= n,
                   timeout=10 * n / RPS, what=f"{n} requests to the paused app")  # fmt: skip
    finally:
        paused.stop()
    seen = paused.statuses[mesh.url("paused")]
    assert set(seen) <= {200, 500} and seen[200] and seen[500], seen

    def recorded(code: int) -> float:
        return mesh.provider.run_query(
            f'sum(istio_requests_total{{destination_workload="{workload("paused")}",'
            f' response_code="{code}"}})'
        )

    _timed("the recorded totals to reach the client's counts",
           lambda: recorded(200) == seen[200] and recorded(500) == seen[500],
           3 * (ENVOY_FLUSH_S + SCRAPE_INTERVAL_S + EVALUATION_INTERVAL_S))  # fmt: skip
    # rate() needs two samples in its window. The window holds about four evaluations of the
    # recording rules, so once it lies wholly after the traffic the counters are flat: 0/0, NaN.
    # A stall of the machine that leaves fewer than two samples reads as "no series" for a
    # moment (also NoValues); the wait looks past that to the NaN.
    short_window_s = 4 * max(SCRAPE_INTERVAL_S, EVALUATION_INTERVAL_S)

    def nan_reason() -> str | None:
        """The NoValues reason once it is NaN; anything else is reported on timeout."""
        try:
            value = mesh.check(REQUEST_SUCCESS_RATE, "paused", short_window_s)
        except NoValues as exc:
            if "NaN" in str(exc):
                return str(exc)
            raise
        raise AssertionError(f"the window still holds requests: success rate {value}")

    _timed(
        "the success rate of a window with no requests (paused) to be NaN",
        nan_reason,
        3 * (short_window_s + SCRAPE_INTERVAL_S + EVALUATION_INTERVAL_S),
    )


def test_a_workload_without_requests_has_zero_series(mesh):
    """Series exist (at 0) from the cluster's creation, so rate() counts the first requests."""
    selector = f'destination_workload="{workload("idle")}", destination_workload_namespace="{NAMESPACE}"'

    def zeros() -> tuple[float, float] | None:
        total = mesh.provider.run_query(f'sum(istio_requests_total{{{selector}, response_code="200"}})')
        inf = mesh.provider.run_query(
            f'sum(istio_request_duration_milliseconds_bucket{{{selector}, le="+Inf"}})')
        return (total, inf)

    assert _timed("zero-valued series of the idle workload", zeros, WINDOW_BOUND_S) == (0.0, 0.0)
