"""Croc Hunter's HTTP surface: page, health, delay, status, static, version, metrics, X-Version."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def test_page_shows_hostname_release_commit_and_powered_by(croc_v3):
    r = croc_v3.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    for shown in (socket.gethostname(), "v3", "abc1234", "pytest"):
        assert shown in r.text


def test_page_reads_the_original_environment_variables(launch):
    app = launch(env={"WORKFLOW_RELEASE": "r42", "GIT_SHA": "deadbee", "POWERED_BY": "crocs"})
    r = app.get("/")
    assert r.headers["X-Version"] == "r42"
    assert "deadbee" in r.text and "crocs" in r.text


def test_healthz_answers_ok(croc_v3):
    r = croc_v3.get("/healthz")
    assert (r.status_code, r.text) == (200, "ok")


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/"), ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/version"),
     ("GET", "/delay?wait=0"), ("GET", "/delay?wait=abc"), ("GET", "/status?code=503"),
     ("GET", "/status?code=204"), ("GET", "/static/croc.css"), ("GET", "/static/missing.css"),
     ("GET", "/no/such/page"), ("POST", "/healthz"), ("HEAD", "/")],
)
def test_every_response_names_the_release(croc_v3, method, path):
    r = requests.request(method, croc_v3.url + path, timeout=10)
    assert r.headers.get("X-Version") == "v3", (r.status_code, dict(r.headers))


@pytest.mark.parametrize("code", [200, 204, 301, 404, 418, 500, 503, 599])
def test_status_answers_with_the_requested_code(croc_v3, code):
    assert croc_v3.get(f"/status?code={code}", allow_redirects=False).status_code == code


@pytest.mark.parametrize("code", ["abc", "", "4.5", "99", "100", "600", "-1", "1e3"])
def test_status_refuses_a_code_it_cannot_answer_with_400(croc_v3, code):
    r = croc_v3.get(f"/status?code={code}")
    assert r.status_code == 400
    assert "code" in r.text


def test_delay_waits_the_requested_time(croc_v3):
    started = time.perf_counter()
    r = croc_v3.get("/delay?wait=0.3")
    assert r.status_code == 200
    assert time.perf_counter() - started >= 0.3


@pytest.mark.parametrize("wait", ["abc", "-1", "31", "nan", "inf", ""])
def test_delay_refuses_a_wait_out_of_bounds_with_400(croc_v3, wait):
    assert croc_v3.get(f"/delay?wait={wait}").status_code == 400


def test_delay_without_wait_is_400(croc_v3):
    assert croc_v3.get("/delay").status_code == 400


def test_static_files_are_served(croc_v3):
    css = croc_v3.get("/static/croc.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert croc_v3.get("/static/croc.txt").status_code == 200
    assert croc_v3.get("/static/missing.css").status_code == 404
    assert croc_v3.get("/static/../server.py").status_code == 404


def test_version_reports_release_commit_hostname_and_knobs(launch):
    app = launch("--version", "v5", "--commit", "c0ffee", "--error-rate", "0.25",
                 "--latency-ms", "7", "--seed", "11")
    body = app.get("/version").json()
    assert body["version"] == "v5" and body["commit"] == "c0ffee"
    assert body["hostname"] == socket.gethostname()
    assert body["knobs"] == {"error_rate": 0.25, "latency_ms": 7.0, "crash_after": 0,
                             "never_ready": False, "seed": 11}


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_code_and_route(launch):
    app = launch("--version", "v8", "--commit", "f00")
    with requests.Session() as s:
        for _ in range(5):
            assert app.get("/", s).status_code == 200
        for _ in range(2):
            assert app.get("/status?code=503", s).status_code == 503
        assert app.get("/nowhere", s).status_code == 404
        r = app.get("/metrics", s)
    assert r.headers["Content-Type"].startswith("text/plain")
    m = _samples(r.text)
    assert m[("croc_hunter_requests_total", frozenset({("code", "200"), ("path", "/")}))] == 5
    assert m[("croc_hunter_requests_total", frozenset({("code", "503"), ("path", "/status")}))] == 2
    assert m[("croc_hunter_requests_total", frozenset({("code", "404"), ("path", "unmatched")}))] == 1
    assert m[("croc_hunter_request_duration_seconds_count", frozenset({("path", "/")}))] == 5
    assert m[("croc_hunter_build_info", frozenset({("version", "v8"), ("commit", "f00")}))] == 1
