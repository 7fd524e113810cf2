"""Croc Hunter's process life: announcing the port, draining on SIGTERM, refusing bad knobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from progressive.app.server import MAX_DELAY_S
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 30.0  # a process that must exit at once (bad knob, --help), on a busy machine


def _run_app(*flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive.app", *flags],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          env={**os.environ, **(env or {})})


def test_announces_the_bound_port_on_stdout_and_in_the_port_file(launch):
    app = launch("--version", "v4")
    assert f"croc-hunter v4 listening on http://127.0.0.1:{app.port}\n" in app.output()
    assert app.port_file.read_text().strip() == str(app.port)
    assert [p.name for p in app.port_file.parent.glob(".*.tmp-*")] == []


def test_sigterm_when_idle_exits_0(launch):
    app = launch()
    assert app.get("/healthz").status_code == 200
    app.process.popen.send_signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def _app_requests_in_flight(app) -> float:
    text = app.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "croc_hunter_app_requests_in_flight":
            return family.samples[0].value
    raise AssertionError("no in-flight gauge")


def _sigterm_during(app, path: str) -> tuple[int, list[requests.Response | Exception]]:
    """Send SIGTERM while `path` is being answered; the exit code and what the client got."""
    answers: list[requests.Response | Exception] = []

    def client() -> None:
        try:
            answers.append(app.get(path))
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertions
            answers.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        wait_until(lambda: _app_requests_in_flight(app) == 1, timeout=10,
                   what=f"{path} to be in flight")
        app.process.popen.send_signal(signal.SIGTERM)
        code = app.wait_exit()
    finally:
        thread.join(timeout=RUN_TIMEOUT_S)
    return code, answers


def test_sigterm_finishes_the_request_in_flight_then_exits_0(launch):
    app = launch()
    code, answers = _sigterm_during(app, "/delay?wait=1")
    assert code == 0
    assert len(answers) == 1 and isinstance(answers[0], requests.Response), answers
    assert answers[0].status_code == 200
    with pytest.raises(requests.ConnectionError):
        app.get("/healthz")


def test_sigterm_gives_up_on_a_request_longer_than_the_grace_and_exits_0(launch):
    app = launch()
    started = time.monotonic()
    code, answers = _sigterm_during(app, f"/delay?wait={MAX_DELAY_S:g}")
    assert code == 0
    assert time.monotonic() - started < MAX_DELAY_S
    assert len(answers) == 1 and isinstance(answers[0], requests.ConnectionError), answers


@pytest.mark.parametrize(
    "flags, env, names",
    [
        (["--error-rate", "1.5"], {}, "--error-rate"),
        (["--error-rate", "abc"], {}, "--error-rate"),
        ([], {"CROC_ERROR_RATE": "-0.1"}, "CROC_ERROR_RATE"),
        (["--latency-ms", "-5"], {}, "--latency-ms"),
        ([], {"CROC_LATENCY_MS": "slow"}, "CROC_LATENCY_MS"),
        (["--crash-after", "-1"], {}, "--crash-after"),
        (["--crash-after", "2.5"], {}, "--crash-after"),
        ([], {"CROC_NEVER_READY": "maybe"}, "CROC_NEVER_READY"),
        (["--port", "70000"], {}, "--port"),
        (["--seed", "x"], {}, "--seed"),
    ],
)
def test_a_bad_knob_exits_2_with_a_message_and_no_traceback(flags, env, names):
    done = _run_app(*flags, env=env)
    assert done.returncode == 2, done.stderr
    assert names in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_exits_2(launch):
    app = launch()
    done = _run_app("--port", str(app.port))
    assert done.returncode == 2
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr


def test_help_works():
    done = _run_app("--help")
    assert done.returncode == 0
    assert "--error-rate" in done.stdout and "CROC_ERROR_RATE" in done.stdout
