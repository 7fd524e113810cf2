"""The load tester against real HTTP: a LoadTester in its own thread, a tiny aiohttp target on
127.0.0.1:0 that counts what it receives, and (integration) the `python -m` entry point and a
real Croc Hunter as the target.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from aiohttp import web

from progressive.load.loadtester import (
    BadRequest,
    LoadTester,
    grace_s,
    parse_load_request,
)
from progressive.processes import start_process
from progressive.waiting import wait_until

HTTP_TIMEOUT_S = 10.0
PROCESS_START_S = 30.0  # Python + aiohttp import on a loaded 2-core machine
ACCEPT_WITHIN_S = 0.5  # "answers 202 at once": well before the 1 s job could have run


class Target:
    """An aiohttp app on 127.0.0.1:0 in a thread; records the time and headers of each hit."""

    def __init__(self) -> None:
        self.hits: list[tuple[float, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _hit(self, request: web.Request) -> web.Response:
        self.hits.append((time.monotonic(), dict(request.headers)))
        return web.Response(text="croc")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._hit)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    t.start()
    try:
        yield t
    finally:
        t.stop()


@pytest.fixture
def tester() -> Iterator[LoadTester]:
    lt = LoadTester().start()
    try:
        yield lt
    finally:
        lt.stop()


def payload(**metadata: str) -> dict:
    return {"name": "croc-hunter", "namespace": "jx-production", "phase": "Progressing",
            "checksum": "abc", "metadata": {"type": "load", **metadata}}


def post(lt: LoadTester, body) -> requests.Response:
    kw = {"json": body} if not isinstance(body, bytes) else {"data": body}
    return requests.post(lt.url, timeout=HTTP_TIMEOUT_S, **kw)


class TestServer:
    def test_healthz(self, tester):
        assert requests.get(tester.url + "healthz", timeout=HTTP_TIMEOUT_S).status_code == 200
        assert tester.url.startswith("http://127.0.0.1:") and tester.port > 0

    def test_jobs_list_is_empty_at_first(self, tester):
        body = requests.get(tester.url + "jobs", timeout=HTTP_TIMEOUT_S).json()
        assert body == {"requestsSent": 0, "jobs": []}


class TestLoad:
    def test_answers_at_once_and_sends_rps_times_duration(self, tester, target):
        rps, duration_s = 50, 1.0
        n = round(rps * duration_s)
        requests.get(tester.url + "healthz", timeout=HTTP_TIMEOUT_S)  # connection warmed
        started = time.monotonic()
        resp = post(tester, payload(url=target.url, rps=str(rps), duration="1s"))
        took = time.monotonic() - started
        assert resp.status_code == 202, resp.text
        assert resp.json()["requests"] == n
        assert took < ACCEPT_WITHIN_S
        bound = duration_s + grace_s(duration_s) + HTTP_TIMEOUT_S
        wait_until(lambda: tester.jobs()[0]["state"] != "running", timeout=bound,
                   what="the load job to end")
        job = tester.jobs()[0]
        assert job["state"] == "done"
        # The schedule is deterministic: exactly n requests, every one answered by the target.
        assert tester.requests_sent == n
        assert job["statuses"] == {"200": n} and job["errors"] == 0
        assert len(target.hits) == n
        # Paced at 1/rps on a fixed schedule from the job's start (after `started`): request i
        # cannot leave before i / rps, give or take asyncio's clock resolution. (A stall may
        # delay requests and bunch them up after it; it cannot make one early.)
        hits = sorted(t for t, _ in target.hits)
        early = [i for i, t in enumerate(hits) if t - started < i / rps - 0.02]
        assert early == [], f"requests {early} left before their slot"

    def test_headers_and_method_are_sent(self, tester, target):
        resp = post(tester, payload(url=target.url, rps="20", duration="100ms", method="post",
                                    headers="X-Canary: always\nCookie: user=tester\n"))
        assert resp.status_code == 202, resp.text
        wait_until(lambda: len(target.hits) == 2, timeout=HTTP_TIMEOUT_S, what="2 hits")
        for _, headers in target.hits:
            assert headers["X-Canary"] == "always" and headers["Cookie"] == "user=tester"

    def test_same_job_while_running_is_not_started_twice(self, tester, target):
        body = payload(url=target.url, rps="5", duration="30s")
        first = post(tester, body).json()
        again = post(tester, body).json()
        assert again == {"job": first["job"], "requests": 150, "alreadyRunning": True}
        other = post(tester, payload(url=target.url, rps="5", duration="20s")).json()
        assert other["job"] != first["job"]
        assert len(tester.jobs()) == 2

    def test_stop_cancels_running_load(self, target):
        lt = LoadTester().start()
        try:
            assert post(lt, payload(url=target.url, rps="20", duration="60s")).status_code == 202
            wait_until(lambda: lt.requests_sent >= 3, timeout=HTTP_TIMEOUT_S,
                       what="the load to start")
        finally:
            lt.stop()
        assert not lt.running
        job = lt.jobs()[0]
        assert job["state"] == "cancelled"
        assert 3 <= job["sent"] < 1200
        assert len(target.hits) <= job["sent"]
        lt.stop()  # a second stop is harmless


def bad(**metadata) -> dict:
    return {"name": "c", "namespace": "n", "metadata": metadata}


LOAD = {"type": "load", "url": "http://127.0.0.1:8080/", "rps": "10", "duration": "1s"}


class TestBadPayloads:
    @pytest.mark.parametrize("body, words", [
        (b"not json", "must be JSON"),
        ([1, 2], "JSON object"),
        ({"name": "c"}, "metadata: required"),
        (bad(cmd="hey -z 1m http://127.0.0.1/"), "never runs commands"),
        (bad(type="bash"), "unknown type 'bash'"),
        (bad(), "unknown type None"),
        (bad(**{**LOAD, "url": ""}), "metadata.url: required"),
        (bad(**{**LOAD, "url": "ftp://127.0.0.1/"}), "http:// or https://"),
        (bad(**{**LOAD, "url": "http://10.0.0.1/"}), "not a loopback host"),
        (bad(**{**LOAD, "url": "http://example.com/"}), "not a loopback host"),
        (bad(**{**LOAD, "url": "http://127.0.0.1:99999/"}), "invalid URL"),
        (bad(**{**LOAD, "rps": "0"}), "metadata.rps: must be > 0"),
        (bad(**{**LOAD, "rps": "nan"}), "metadata.rps"),
        (bad(**{**LOAD, "rps": "lots"}), "metadata.rps: must be a number"),
        (bad(**{**LOAD, "rps": "1e9"}), "metadata.rps"),
        (bad(**{**LOAD, "rps": 10}), "metadata.rps: must be a string"),
        (bad(**{**LOAD, "duration": "30"}), "missing unit"),
        (bad(**{**LOAD, "duration": "2h"}), "metadata.duration: must be > 0 and <= 3600s"),
        (bad(**{**LOAD, "duration": "0s"}), "metadata.duration"),
        (bad(**{**LOAD, "method": "DELETE"}), "metadata.method"),
        (bad(**{**LOAD, "concurrency": "1.5"}), "metadata.concurrency: must be a whole"),
        (bad(**{**LOAD, "headers": "no colon here"}), "metadata.headers: line 1"),
        (bad(**{**LOAD, "timeout": "5m"}), "metadata.timeout"),
        (bad(**{**LOAD, "extra": "x"}), "unknown keys extra"),
    ])
    def test_refused_with_400_and_the_reason(self, tester, body, words):
        resp = post(tester, body)
        assert resp.status_code == 400
        assert words in resp.json()["error"]
        assert tester.jobs() == []

    def test_remote_targets_only_when_allowed(self):
        body = bad(**{**LOAD, "url": "http://10.0.0.1:8080/"})
        with pytest.raises(BadRequest, match="not a loopback host"):
            parse_load_request(body, allow_remote=False)
        assert parse_load_request(body, allow_remote=True).url == "http://10.0.0.1:8080/"

    @pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost"])
    def test_loopback_hosts_are_accepted(self, host):
        load = parse_load_request(bad(**{**LOAD, "url": f"http://{host}:1/"}), False)
        assert load.total == 10 and load.method == "GET"


def _port_from(port_file: Path, proc) -> int | None:
    if port_file.exists() and port_file.read_text().strip():
        return int(port_file.read_text())
    return -1 if not proc.alive() else None


@pytest.mark.integration
class TestProcesses:
    def test_entry_point_serves_and_stops_on_sigterm(self, tmp_path):
        port_file = tmp_path / "lt.port"
        argv = [sys.executable, "-m", "progressive.load.loadtester", "--port", "0",
                "--port-file", str(port_file)]
        proc = start_process("loadtester", argv, tmp_path)
        try:
            port = wait_until(lambda: _port_from(port_file, proc), timeout=PROCESS_START_S,
                              what="the load tester to bind")
            assert port > 0, proc.log_tail()
            url = f"http://127.0.0.1:{port}/"
            assert requests.get(url + "healthz", timeout=HTTP_TIMEOUT_S).status_code == 200
            resp = requests.post(url, json=bad(type="bash"), timeout=HTTP_TIMEOUT_S)
            assert resp.status_code == 400
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.popen.wait(timeout=HTTP_TIMEOUT_S) == 0, proc.log_tail()
        finally:
            proc.stop()

    def test_load_against_croc_hunter(self, tmp_path, tester):
        port_file = tmp_path / "croc.port"
        argv = [sys.executable, "-m", "progressive.app", "--port", "0",
                "--port-file", str(port_file)]
        croc = start_process("croc", argv, tmp_path)
        try:
            port = wait_until(lambda: _port_from(port_file, croc), timeout=PROCESS_START_S,
                              what="Croc Hunter to bind")
            assert port > 0, croc.log_tail()
            resp = post(tester, payload(url=f"http://127.0.0.1:{port}/healthz", rps="40",
                                        duration="500ms"))
            assert resp.status_code == 202
            wait_until(lambda: tester.jobs()[0]["state"] != "running",
                       timeout=0.5 + grace_s(0.5) + HTTP_TIMEOUT_S, what="the load job to end")
            assert tester.jobs()[0]["statuses"] == {"200": 20}
        finally:
            croc.stop()
