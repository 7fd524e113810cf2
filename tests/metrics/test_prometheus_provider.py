"""PrometheusProvider against a real Prometheus: one value, or a named error, quickly."""

from __future__ import annotations

import socket
import time

import pytest

from progressive.metrics.base import NoValues, QueryFailed
from progressive.metrics.prometheus import PrometheusProvider

pytestmark = pytest.mark.integration

FAIL_FAST_S = 2.0  # a dead server must fail a check at once, not after client retries


@pytest.fixture
def provider(prometheus) -> PrometheusProvider:
    return PrometheusProvider(prometheus.url)


def test_one_series_or_a_scalar_is_a_value(provider):
    assert provider.run_query("vector(42)") == 42.0
    assert provider.run_query("1 + 1") == 2.0
    assert provider.run_query('sum(label_replace(vector(0.5), "a", "x", "", ""))') == 0.5


def test_no_series_is_no_values(provider):
    with pytest.raises(NoValues, match="no series"):
        provider.run_query('sum(rate(istio_requests_total{destination_workload="none"}[1m]))')


@pytest.mark.parametrize(("promql", "says"), [("vector(0) / 0", "NaN"), ("vector(1) / 0", "inf")])
def test_nan_and_inf_are_no_values_and_say_which(provider, promql, says):
    with pytest.raises(NoValues, match=says):
        provider.run_query(promql)


def test_several_series_is_a_failed_query_naming_them(provider):
    two = 'label_replace(vector(1), "pod", "a", "", "") or label_replace(vector(2), "pod", "b", "", "")'
    with pytest.raises(QueryFailed, match=r"2 series, expected one.*pod='a'"):
        provider.run_query(two)


def test_bad_promql_is_a_failed_query_with_prometheus_reason(provider):
    with pytest.raises(QueryFailed, match=r"HTTP 400: .*parse error"):
        provider.run_query("sum(rate(x[1m])")


def test_an_http_error_is_a_failed_query(prometheus):
    wrong_path = PrometheusProvider(f"{prometheus.url}/no-such-prefix")
    with pytest.raises(QueryFailed, match="HTTP Status Code 404"):
        wrong_path.run_query("vector(1)")


def test_a_stopped_server_fails_quickly_and_is_offline(prometheus, provider):
    assert provider.is_online()
    prometheus.stop()
    started = time.monotonic()
    with pytest.raises(QueryFailed, match="unreachable"):
        provider.run_query("vector(1)")
    assert time.monotonic() - started < FAIL_FAST_S
    started = time.monotonic()
    assert provider.is_online() is False
    assert time.monotonic() - started < FAIL_FAST_S


def test_a_server_that_never_answers_times_out():
    timeout_s = 0.5
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        provider = PrometheusProvider(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s)
        started = time.monotonic()
        with pytest.raises(QueryFailed, match="did not answer within 0.5s"):
            provider.run_query("vector(1)")
        assert timeout_s <= time.monotonic() - started < timeout_s + FAIL_FAST_S
        assert provider.is_online() is False
