"""Croc Hunter's fault knobs: error rate, added latency, crash after N, never ready."""

from __future__ import annotations

import time

import pytest
import requests

from progressive.stats import acceptance_interval

pytestmark = pytest.mark.integration

ALPHA = 1e-4  # false-alarm probability of each statistical assertion in this module


def test_error_rate_fails_each_app_request_with_that_probability(launch):
    """Binomial(n=400, p=0.5) acceptance region at false-alarm 1e-4 (two-sided, exact)."""
    n, p = 400, 0.5
    app = launch("--error-rate", str(p))
    with requests.Session() as s:
        statuses = [app.get("/", s).status_code for _ in range(n)]
    assert set(statuses) <= {200, 500}
    lo, hi = acceptance_interval(n, p, ALPHA)
    failed = statuses.count(500)
    assert lo <= failed <= hi, f"{failed}/{n} answered 500, accepted {lo}..{hi} (alpha {ALPHA})"


def test_error_rate_spares_health_metrics_and_version(launch):
    app = launch("--error-rate", "1")
    with requests.Session() as s:
        assert app.get("/", s).status_code == 500
        assert app.get("/status?code=200", s).status_code == 500
        for path in ("/healthz", "/metrics", "/version"):
            r = app.get(path, s)
            assert r.status_code == 200, path
        assert app.get("/", s).headers["X-Version"] == "v1"


def test_a_seed_makes_the_error_sequence_reproducible(launch):
    runs = []
    for _ in range(2):
        app = launch("--error-rate", "0.3", "--seed", "7")
        with requests.Session() as s:
            runs.append([app.get("/", s).status_code for _ in range(40)])
    assert runs[0] == runs[1]
    assert 200 in runs[0] and 500 in runs[0]


def _elapsed(app, path: str, session: requests.Session) -> float:
    started = time.perf_counter()
    assert app.get(path, session).status_code == 200
    return time.perf_counter() - started


def test_latency_is_added_to_app_requests_only(launch):
    latency_s = 0.3
    app = launch("--latency-ms", str(latency_s * 1000))
    with requests.Session() as s:
        assert min(_elapsed(app, "/", s) for _ in range(3)) >= latency_s
        assert min(_elapsed(app, "/static/croc.css", s) for _ in range(3)) >= latency_s
        # the fastest of three: one slow answer on a busy machine is not the knob
        for path in ("/healthz", "/metrics", "/version"):
            assert min(_elapsed(app, path, s) for _ in range(3)) < latency_s, path


def test_crash_after_answers_n_app_requests_then_exits_with_code_3(launch):
    app = launch("--crash-after", "3")
    with requests.Session() as s:
        for i in range(3):
            for path in ("/healthz", "/metrics", "/version"):  # these do not count
                assert app.get(path, s).status_code == 200
            assert app.get("/", s).status_code == 200, f"app request {i + 1}"
    assert app.wait_exit() == 3
    assert "crash-after" in app.output()
    with pytest.raises(requests.ConnectionError):
        app.get("/healthz")


def test_never_ready_answers_503_on_healthz_forever(launch):
    app = launch("--never-ready")
    with requests.Session() as s:
        for _ in range(5):
            r = app.get("/healthz", s)
            assert r.status_code == 503 and r.headers["X-Version"] == "v1"
        assert app.get("/", s).status_code == 200


def test_never_ready_from_the_environment(launch):
    app = launch(env={"CROC_NEVER_READY": "true"})
    assert app.get("/healthz").status_code == 503
