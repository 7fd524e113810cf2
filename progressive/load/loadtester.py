"""A load-test webhook receiver, like Flagger's load tester, that generates the load itself.

A `rollout` (or `pre-rollout`) webhook points at it; it answers 202 at once and sends the
requested load in the background with an aiohttp client, so the canary has traffic to be
analysed. Run it with `python -m progressive.load.loadtester --port 0 --port-file F`, or in
a test with `LoadTester().start()` (its own thread and event loop).

    POST /        the webhook payload; `metadata` (string values, as in Flagger) says what to do:
                  {"type": "load", "url": "http://127.0.0.1:8080/", "rps": "50",
                   "duration": "30s", "method": "GET", "concurrency": "10",
                   "headers": "X-Canary: always\\nCookie: a=b", "timeout": "5s"}
                  -> 202 {"job": ..., "requests": N}; a bad request -> 400 with the reason.
    GET  /healthz 200
    GET  /jobs    every job with its counters (JSON)

Differences from Flagger's load tester, on purpose:
- `metadata.cmd` is never run: no shell, no command built from request data. A payload that
  carries `cmd` is refused with a 400 that says to use `type: load`.
- Targets must be loopback hosts (127.0.0.0/8, ::1, localhost) unless the server was started
  with `--allow-remote` (`allow_remote=True`): the load stays on this machine. Redirects are
  not followed, so a target cannot bounce the load elsewhere.
- Everything is bounded: rps, duration, concurrency, request timeout, jobs running at once.
  A job sends round(rps * duration) requests at even spacing and is cancelled if it is still
  running GRACE after its duration. Posting a job identical to a running one (same canary,
  target and parameters, as Flagger's hook does every tick) does not start a second one.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from progressive.fsutil import atomic_write
from progressive.model.durations import DurationError, parse_duration

LOOPBACK = "127.0.0.1"
MAX_RPS = 2000.0
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 200
MAX_JOBS = 16
MAX_BODY_BYTES = 64 * 1024
DEFAULT_CONCURRENCY = 10
DEFAULT_REQUEST_TIMEOUT_S = 5.0
METHODS = ("GET", "HEAD", "POST")
METADATA_KEYS = {"type", "url", "rps", "duration", "method", "concurrency", "headers", "timeout"}
START_TIMEOUT_S = 10.0  # binding a socket on loopback; generous for a busy machine


def grace_s(duration_s: float) -> float:
    """How long past its duration a job may run before it is cancelled."""
    return max(2.0, 0.25 * duration_s)


class BadRequest(ValueError):
    """The payload cannot be run; the message goes back to the caller with a 400."""


@dataclass(frozen=True)
class LoadRequest:
    canary: str  # "<namespace>/<name>" from the payload, for logs and de-duplication
    url: str
    rps: float
    duration_s: float
    method: str = "GET"
    concurrency: int = DEFAULT_CONCURRENCY
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    @property
    def total(self) -> int:
        return max(1, round(self.rps * self.duration_s))


@dataclass
class LoadJob:
    id: int
    request: LoadRequest
    sent: int = 0
    errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    state: str = "running"  # running, done, cancelled (stopped or past its grace)
    task: asyncio.Task | None = None

    def summary(self) -> dict:
        r = self.request
        return {"job": self.id, "canary": r.canary, "url": r.url, "rps": r.rps,
                "durationSeconds": r.duration_s, "requests": r.total, "sent": self.sent,
                "errors": self.errors, "statuses": {str(k): v for k, v in self.statuses.items()},
                "state": self.state}


def parse_load_request(payload: object, allow_remote: bool) -> LoadRequest:
    """The load a webhook payload asks for; raises BadRequest saying what is wrong."""
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object (the webhook payload)")
    meta = payload.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("metadata: required, a mapping of strings")
    if "cmd" in meta:
        raise BadRequest("metadata.cmd: this load tester never runs commands; give type: load "
                         "with url, rps and duration instead")
    unknown = sorted(set(meta) - METADATA_KEYS)
    if unknown:
        raise BadRequest(f"metadata: unknown keys {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(METADATA_KEYS))})")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise BadRequest(f"metadata.{key}: must be a string (as in Flagger), "
                             f"got {type(value).__name__}")
    kind = meta.get("type")
    if kind != "load":
        raise BadRequest(f"metadata.type: unknown type {kind!r} (supported: load)")
    for key in ("url", "rps", "duration"):
        if not meta.get(key, "").strip():
            raise BadRequest(f"metadata.{key}: required for type: load")
    canary = f"{payload.get('namespace', '')}/{payload.get('name', '')}"
    return LoadRequest(
        canary=canary,
        url=_target(meta["url"].strip(), allow_remote),
        rps=_number(meta["rps"], "rps", 0.0, MAX_RPS),
        duration_s=_duration(meta["duration"], "duration", MAX_DURATION_S),
        method=_method(meta.get("method", "GET")),
        concurrency=int(_number(meta.get("concurrency", str(DEFAULT_CONCURRENCY)),
                                "concurrency", 0.0, MAX_CONCURRENCY, integer=True)),
        headers=_headers(meta.get("headers", "")),
        timeout_s=_duration(meta.get("timeout", f"{DEFAULT_REQUEST_TIMEOUT_S:g}s"), "timeout",
                            60.0),
    )


def _target(url: str, allow_remote: bool) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise BadRequest(f"metadata.url: invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise BadRequest(f"metadata.url: must be an http:// or https:// URL with a host, "
                         f"got {url!r}")
    if not allow_remote and not is_loopback(host):
        raise BadRequest(f"metadata.url: {host!r} is not a loopback host; this load tester "
                         "only sends load to 127.0.0.1 / ::1 / localhost unless started with "
                         "--allow-remote")
    return url


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _number(text: str, key: str, lo: float, hi: float, integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise BadRequest(f"metadata.{key}: must be {kind}, got {text!r}") from None
    if not lo < value <= hi:  # also refuses NaN
        raise BadRequest(f"metadata.{key}: must be > {lo:g} and <= {hi:g}, got {text!r}")
    return value


def _duration(text: str, key: str, hi: float) -> float:
    try:
        value = parse_duration(text)
    except DurationError as exc:
        raise BadRequest(f"metadata.{key}: {exc}") from None
    if not 0 < value <= hi:
        raise BadRequest(f"metadata.{key}: must be > 0 and <= {hi:g}s, got {text!r}")
    return value


def _method(text: str) -> str:
    method = text.strip().upper()
    if method not in METHODS:
        raise BadRequest(f"metadata.method: must be one of {', '.join(METHODS)}, got {text!r}")
    return method


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    """`Name: value` lines (a YAML block scalar in the spec)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t()<>@,;\\\"/[]?={}"):
            raise BadRequest(f"metadata.headers: line {n} must be 'Name: value', got {line!r}")
        out.append((name, value.strip()))
    return tuple(out)


class _Service:
    """The HTTP app and the running jobs; lives on one event loop."""

    def __init__(self, allow_remote: bool):
        self.allow_remote = allow_remote
        self.jobs: list[LoadJob] = []
        self._ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def requests_sent(self) -> int:
        return sum(j.sent for j in list(self.jobs))

    def running(self) -> list[LoadJob]:
        return [j for j in self.jobs if j.state == "running"]

    async def start(self, port: int) -> int:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/", self.post_load)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/jobs", self.list_jobs)
        self.runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, LOOPBACK, port).start()
        self.port = self.runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        tasks = [j.task for j in self.running() if j.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def list_jobs(self, request: web.Request) -> web.Response:
        return web.json_response({"requestsSent": self.requests_sent,
                                  "jobs": [j.summary() for j in self.jobs]})

    async def post_load(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _bad("the body must be JSON (the webhook payload)")
        try:
            load = parse_load_request(payload, self.allow_remote)
        except BadRequest as exc:
            return _bad(str(exc))
        for job in self.running():
            if job.request == load:
                return web.json_response({"job": job.id, "requests": load.total,
                                          "alreadyRunning": True}, status=202)
        if len(self.running()) >= MAX_JOBS:
            return web.json_response({"error": f"{MAX_JOBS} load jobs are running already"},
                                     status=429)
        job = LoadJob(next(self._ids), load)
        self.jobs.append(job)
        job.task = asyncio.get_running_loop().create_task(self._run(job))
        return web.json_response({"job": job.id, "requests": load.total}, status=202)

    async def _run(self, job: LoadJob) -> None:
        r = job.request
        try:
            await asyncio.wait_for(self._send_all(job), r.duration_s + grace_s(r.duration_s))
            job.state = "done"
        except TimeoutError:
            job.state = "cancelled"
        except asyncio.CancelledError:
            job.state = "cancelled"
            raise

    async def _send_all(self, job: LoadJob) -> None:
        """round(rps * duration) requests at t0 + i / rps, at most `concurrency` in flight."""
        r = job.request
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(r.concurrency)
        in_flight: set[asyncio.Task] = set()
        connector = aiohttp.TCPConnector(limit=r.concurrency)
        timeout = aiohttp.ClientTimeout(total=r.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         headers=dict(r.headers)) as session:
            try:
                t0 = loop.time()
                for i in range(r.total):
                    delay = t0 + i / r.rps - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await slots.acquire()
                    job.sent += 1
                    task = loop.create_task(self._one(job, session, slots))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if in_flight:
                    await asyncio.gather(*in_flight)
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _one(self, job: LoadJob, session: aiohttp.ClientSession,
                   slots: asyncio.Semaphore) -> None:
        try:
            async with session.request(job.request.method, job.request.url,
                                       allow_redirects=False) as resp:
                await resp.read()
                job.statuses[resp.status] += 1
        except (aiohttp.ClientError, TimeoutError):
            job.errors += 1
        finally:
            slots.release()


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


class LoadTester:
    """The load tester on its own thread and event loop, for tests and embedding.

        with LoadTester() as lt:
            requests.post(lt.url, json=payload)   # 202
    """

    def __init__(self, port: int = 0, allow_remote: bool = False):
        self._port = port
        self._service = _Service(allow_remote)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._service.port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    @property
    def requests_sent(self) -> int:
        return self._service.requests_sent

    def jobs(self) -> list[dict]:
        return [j.summary() for j in list(self._service.jobs)]

    def start(self) -> LoadTester:
        if self._thread is not None:
            raise RuntimeError("the load tester is already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loadtester",
                                        daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(
                self._service.start(self._port), self._loop).result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Cancel running loads, close the server, end the thread. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(self._service.stop(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> LoadTester:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(port: int, port_file: Path | None, allow_remote: bool) -> None:
    service = _Service(allow_remote)
    bound = await service.start(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if port_file is not None:
        atomic_write(port_file, f"{bound}\n")
    print(f"load tester listening on http://{LOOPBACK}:{bound}/", flush=True)
    try:
        await stop.wait()
    finally:
        await service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m progressive.load.loadtester",
                                     description="Load-test webhook receiver on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow load to non-loopback hosts (off by default)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    asyncio.run(_serve(args.port, args.port_file, args.allow_remote))
    return 0


if __name__ == "__main__":
    sys.exit(main())
