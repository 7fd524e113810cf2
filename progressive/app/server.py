"""Croc Hunter's HTTP surface on aiohttp, and serving it from the command line.

`build_app(knobs)` returns the aiohttp Application (tests use it in-process); `serve(knobs)`
binds, announces the port (stdout line and `--port-file`), and drains on SIGTERM. Called by
`python -m progressive.app`, which the local platform starts once per replica.

Routes: `/` (HTML page), `/healthz`, `/delay?wait=N`, `/status?code=N`, `/static/`,
`/metrics` (Prometheus text), `/version` (JSON). Every response carries `X-Version`.
"App requests" are all requests except /healthz, /metrics and /version: only they get the
fault knobs (added latency, injected 500s) and count towards `--crash-after`.
"""

from __future__ import annotations

import asyncio
import html
import math
import mimetypes
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from progressive.app.knobs import KnobError, Knobs

HERE = Path(__file__).parent
NOT_APP_PATHS = frozenset({"/healthz", "/metrics", "/version"})
MAX_DELAY_S = 30.0
# After SIGTERM, aiohttp waits up to half the grace for in-flight requests to finish, then up
# to the other half for the ones it cancelled: the process is gone within the grace.
SHUTDOWN_GRACE_S = 4.0
CRASH_EXIT_CODE = 3
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
NO_BODY_CODES = frozenset({204, 304})


class _Metrics:
    """A registry of this app's own (one per app, so tests and replicas never share counts)."""

    def __init__(self, knobs: Knobs):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("croc_hunter_requests", "Requests answered, by status code and "
                                "route template", ["code", "path"], registry=r)
        self.latency = Histogram("croc_hunter_request_duration_seconds", "Time to answer, "
                                 "by route template", ["path"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("croc_hunter_app_requests_in_flight", "App requests being "
                               "answered now (not /healthz, /metrics, /version)", registry=r)
        info = Gauge("croc_hunter_build_info", "Always 1; labels say what runs",
                     ["version", "commit"], registry=r)
        info.labels(knobs.version, knobs.commit).set(1)
        self._children: dict[tuple[str, str], tuple] = {}

    def observe(self, code: int, path: str, seconds: float) -> None:
        key = (str(code), path)
        child = self._children.get(key)
        if child is None:  # labels() takes a lock and validates; do it once per series
            child = self._children[key] = (self.requests.labels(*key), self.latency.labels(path))
        child[0].inc()
        child[1].observe(seconds)


def _exit_process() -> None:
    print(f"croc-hunter: crash-after reached, exiting with code {CRASH_EXIT_CODE}",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(CRASH_EXIT_CODE)


@dataclass
class _State:
    knobs: Knobs
    hostname: str
    on_crash: Callable[[], None]
    metrics: _Metrics
    page: bytes
    rng: random.Random
    static_files: dict[str, tuple[bytes, str]]
    app_requests: int = 0


STATE = web.AppKey("croc_hunter_state", _State)


def _render_page(knobs: Knobs, hostname: str) -> bytes:
    template = Template((HERE / "templates" / "index.html").read_text(encoding="utf-8"))
    values = {"hostname": hostname, "release": knobs.version, "commit": knobs.commit,
              "powered_by": knobs.powered_by}
    return template.substitute({k: html.escape(v) for k, v in values.items()}).encode()


def _template_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    return web.Response(status=exc.status, reason=exc.reason, text=exc.text, headers=exc.headers)


@web.middleware
async def _observe(request: web.Request, handler: Callable[[web.Request], Awaitable]):
    """Faults for app requests, metrics for all; errors become responses, so they are counted."""
    st = request.app[STATE]
    started = time.perf_counter()
    is_app = request.path not in NOT_APP_PATHS
    crash_now = False
    if is_app:
        st.app_requests += 1
        crash_now = st.knobs.crash_after > 0 and st.app_requests == st.knobs.crash_after
        st.metrics.in_flight.inc()
    try:
        if is_app and st.knobs.latency_ms > 0:
            await asyncio.sleep(st.knobs.latency_ms / 1000.0)
        if is_app and st.knobs.error_rate > 0 and st.rng.random() < st.knobs.error_rate:
            response = web.Response(status=500, text="injected error\n")
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        response = _from_http_exception(exc)
    except Exception as exc:  # noqa: BLE001 - a bug answers 500 and is counted, never kills us
        print(f"croc-hunter: error on {request.path}: {exc!r}", file=sys.stderr, flush=True)
        response = web.Response(status=500, text="internal error\n")
    finally:
        if is_app:
            st.metrics.in_flight.dec()
    st.metrics.observe(response.status, _template_of(request), time.perf_counter() - started)
    if crash_now:  # answer the N-th request, then die as a crashing release would
        await response.prepare(request)
        await response.write_eof()
        asyncio.get_running_loop().call_soon(st.on_crash)
    return response


async def _add_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Version"] = request.app[STATE].knobs.version


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=request.app[STATE].page, content_type="text/html", charset="utf-8")


async def _healthz(request: web.Request) -> web.Response:
    if request.app[STATE].knobs.never_ready:
        return web.Response(status=503, text="not ready")
    return web.Response(text="ok")


def _bad_request(message: str) -> web.Response:
    return web.Response(status=400, text=message + "\n")


async def _delay(request: web.Request) -> web.Response:
    raw = request.query.get("wait")
    try:
        wait = float(raw) if raw is not None else math.nan
    except ValueError:
        wait = math.nan
    if not (0 <= wait <= MAX_DELAY_S):  # also false for nan
        return _bad_request(f"wait must be a number of seconds between 0 and {MAX_DELAY_S:g}, "
                            f"got {raw!r}")
    await asyncio.sleep(wait)
    return web.Response(text=f"waited {wait:g}s\n")


async def _status(request: web.Request) -> web.Response:
    raw = request.query.get("code", "")
    try:
        code = int(raw)
    except ValueError:
        return _bad_request(f"code must be an integer between 100 and 599, got {raw!r}")
    if not 100 <= code <= 599:
        return _bad_request(f"code must be an integer between 100 and 599, got {code}")
    if code < 200:  # a 1xx cannot end an HTTP exchange; the client would wait for more
        return _bad_request(f"code {code} is informational (1xx) and cannot be a final answer")
    if code in NO_BODY_CODES:
        return web.Response(status=code)
    return web.Response(status=code, text=f"status {code}\n")


async def _static(request: web.Request) -> web.Response:
    found = request.app[STATE].static_files.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, content_type = found
    return web.Response(body=body, content_type=content_type)


def _load_static(folder: Path) -> dict[str, tuple[bytes, str]]:
    """The few small static files, read once: no disk access or path handling per request."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files[path.name] = (path.read_bytes(), guessed)
    return files


async def _version(request: web.Request) -> web.Response:
    st = request.app[STATE]
    k = st.knobs
    return web.json_response({"version": k.version, "commit": k.commit, "hostname": st.hostname,
                              "powered_by": k.powered_by, "pid": os.getpid(),
                              "knobs": k.fault_knobs()})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[STATE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(
    knobs: Knobs,
    *,
    hostname: str | None = None,
    on_crash: Callable[[], None] = _exit_process,
) -> web.Application:
    """The Croc Hunter application for `knobs`.

    `on_crash` runs once the `crash_after`-th app request has been answered; the default ends
    the process with exit code 3 (pass another callable when running in-process).
    """
    hostname = hostname or socket.gethostname()
    app = web.Application(middlewares=[_observe])
    app[STATE] = _State(knobs=knobs, hostname=hostname, on_crash=on_crash,
                        metrics=_Metrics(knobs), page=_render_page(knobs, hostname),
                        rng=random.Random(knobs.seed), static_files=_load_static(HERE / "static"))
    app.on_response_prepare.append(_add_version_header)
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/delay", _delay)
    app.router.add_get("/status", _status)
    app.router.add_get("/version", _version)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/static/{name}", _static)
    return app


def _write_port_file(path: Path, port: int) -> None:
    """Temp file in the same directory + os.replace: a reader never sees a partial port."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _serve(knobs: Knobs) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(build_app(knobs), access_log=None, handle_signals=False,
                           shutdown_timeout=SHUTDOWN_GRACE_S / 2)
    await runner.setup()
    try:
        site = web.TCPSite(runner, knobs.host, knobs.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            raise KnobError(f"cannot listen on {knobs.host}:{knobs.port}: {exc.strerror}") from None
        port = runner.addresses[0][1]
        if knobs.port_file:
            _write_port_file(Path(knobs.port_file), port)
        print(f"croc-hunter {knobs.version} listening on http://{_url_host(knobs.host)}:{port}",
              flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()  # stop accepting, then wait up to the grace for in-flight answers
    return 0


def serve(knobs: Knobs) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0 after a graceful stop)."""
    try:
        import uvloop  # optional, not a dependency
    except ImportError:
        return asyncio.run(_serve(knobs))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        return r.run(_serve(knobs))
