"""call_webhook against real HTTP servers on 127.0.0.1 (an aiohttp app run in a thread).

Nothing is mocked: each test talks to a server that answers with a chosen status, hangs, or is
not there at all.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from progressive.engine.webhooks import HookResult, call_webhook, hook_payload
from progressive.model.types import Analysis, ApplicationSpec, CanarySpec, HookType, Webhook

# A refused connection on loopback fails in well under a millisecond; allow a loaded machine.
FAST_FAIL_S = 2.0
# How late a timed-out call may return: thread scheduling on a busy 2-core machine.
TIMEOUT_MARGIN_S = 1.5


class HookServer:
    """An aiohttp app on 127.0.0.1:0 in its own thread and event loop.

    POST /status/<code> answers <code>; POST /hang waits until the server stops; every body
    received is kept in `received`.
    """

    def __init__(self) -> None:
        self.received: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    async def _status(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response(status=int(request.match_info["code"]), text="answer")

    async def _hang(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        await self._release.wait()
        return web.Response(status=200)

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/status/{code}", self._status)
        app.router.add_post("/hang", self._hang)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        self._release.set()
        await self._runner.cleanup()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[HookServer]:
    srv = HookServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


SPEC = CanarySpec(name="croc-hunter", namespace="jx-production", target="croc-hunter",
                  analysis=Analysis())


def hook(url: str, timeout_s: float = 10.0, metadata: dict[str, str] | None = None) -> Webhook:
    return Webhook(name="gate", type=HookType.CONFIRM_ROLLOUT, url=url, timeout_s=timeout_s,
                   metadata=metadata or {})


def call(h: Webhook) -> HookResult:
    return call_webhook(h, hook_payload(SPEC, "Progressing", "abc123", h))


class TestStatus:
    @pytest.mark.parametrize("code", [200, 201, 202])
    def test_status_up_to_202_passes(self, server, code):
        result = call(hook(server.url(f"/status/{code}")))
        assert result == HookResult(True, code, "", result.elapsed_s)

    @pytest.mark.parametrize("code", [203, 204, 302, 400, 500, 503])
    def test_status_above_202_fails(self, server, code):
        result = call(hook(server.url(f"/status/{code}")))
        assert not result.ok
        assert result.status == code
        assert f"HTTP {code}" in result.error

    def test_redirect_is_not_followed(self, server):
        """A 302 is an answer of its own: the hook failed, the target was never asked."""
        result = call(hook(server.url("/status/302")))
        assert (result.ok, result.status) == (False, 302)
        assert len(server.received) == 1


class TestPayload:
    def test_fields_are_exact(self, server):
        h = hook(server.url("/status/200"))
        assert call(h).ok
        assert server.received == [{
            "name": "croc-hunter",
            "namespace": "jx-production",
            "phase": "Progressing",
            "checksum": "abc123",
            "metadata": {},
        }]

    def test_metadata_passes_through(self, server):
        meta = {"type": "load", "url": "http://127.0.0.1:1/", "rps": "50"}
        h = hook(server.url("/status/202"), metadata=meta)
        assert call(h).ok
        assert server.received[0]["metadata"] == meta

    def test_payload_helper(self):
        app = ApplicationSpec(name="shop", namespace="prod", replicas=3, steps=())
        h = hook("http://127.0.0.1:1/", metadata={"owner": "team"})
        assert hook_payload(app, "Failed", None, h) == {
            "name": "shop", "namespace": "prod", "phase": "Failed", "checksum": "",
            "metadata": {"owner": "team"}}

    def test_phase_enum_is_sent_as_its_text(self):
        from progressive.engine.state import Phase

        h = hook("http://127.0.0.1:1/")
        assert hook_payload(SPEC, Phase.WAITING_PROMOTION, "x", h)["phase"] == "WaitingPromotion"


class TestFailures:
    def test_hang_fails_within_the_timeout(self, server):
        timeout_s = 0.5
        started = time.monotonic()
        result = call(hook(server.url("/hang"), timeout_s=timeout_s))
        took = time.monotonic() - started
        assert not result.ok and result.status is None
        assert "no answer within 0.5s" in result.error
        assert timeout_s <= took < timeout_s + TIMEOUT_MARGIN_S

    def test_refused_connection_fails_fast(self):
        with socket.socket() as s:  # a port nobody listens on: bound, never listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            started = time.monotonic()
            result = call(hook(f"http://127.0.0.1:{port}/", timeout_s=30))
            took = time.monotonic() - started
        assert not result.ok and result.status is None
        assert "connection refused" in result.error
        assert took < FAST_FAIL_S

    @pytest.mark.parametrize("url", [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "127.0.0.1:8080/hook",
        "http:///no-host",
        "",
    ])
    def test_non_http_url_is_refused_without_a_call(self, url):
        result = call(hook(url))
        assert not result.ok and result.status is None
        assert result.error
        assert result.elapsed_s < FAST_FAIL_S

    def test_bad_port_is_refused(self):
        result = call(hook("http://127.0.0.1:99999/"))
        assert not result.ok and "invalid webhook URL" in result.error

    def test_zero_timeout_means_the_default(self, server):
        assert call(hook(server.url("/status/200"), timeout_s=0)).ok
