"""The locustfile `progressive.load.traffic` runs: paced GETs and one record line per request.

Run by Locust in its own process (never imported by the harness: `import locust` patches the
process with gevent). Configured by environment variables:

    PROGRESSIVE_PATH         request path (default "/")
    PROGRESSIVE_HEADERS      extra request headers, a JSON object (default none)
    PROGRESSIVE_HOST_HEADER  Host header, for virtual-host routing (default: from --host)
    PROGRESSIVE_RPS          total target rate in requests/s, split over the users; 0 = unpaced
    PROGRESSIVE_USERS        the number of users the rate is split over (default 1)
    PROGRESSIVE_RECORD       file the per-request records are appended to (unset: no records)
    PROGRESSIVE_FLUSH_S      how often the records are flushed (default 0.2 s)
    PROGRESSIVE_TIMEOUT_S    connect and read timeout per request (default 10 s)
    PROGRESSIVE_SHAPE        constant | step | spike: a load shape from load/shapes.py

A record line is `t,status,latency_ms,version` (load/recording.py). The recorder buffers in
arrays and appends complete lines to the file every PROGRESSIVE_FLUSH_S, when the test stops,
at `quitting` and at `quit` (the last event, after the users are gone), so the file holds every
request Locust counted in its `--json-file` totals. Locust marks 4xx/5xx and connection errors
as failures by itself; the recorder keeps the status (0 for a connection error) either way.
"""

from __future__ import annotations

import json
import os
import time
from array import array

import gevent
from locust import FastHttpUser, constant, constant_throughput, events, task

from progressive.load.recording import format_line
from progressive.load.shapes import locust_shape_class

PATH = os.environ.get("PROGRESSIVE_PATH", "/") or "/"
HEADERS: dict[str, str] = json.loads(os.environ.get("PROGRESSIVE_HEADERS") or "{}")
if os.environ.get("PROGRESSIVE_HOST_HEADER"):
    HEADERS["Host"] = os.environ["PROGRESSIVE_HOST_HEADER"]
RPS = float(os.environ.get("PROGRESSIVE_RPS") or 0)
USERS = max(1, int(os.environ.get("PROGRESSIVE_USERS") or 1))
TIMEOUT_S = float(os.environ.get("PROGRESSIVE_TIMEOUT_S") or 10)


class ProgressiveUser(FastHttpUser):
    wait_time = constant_throughput(RPS / USERS) if RPS > 0 else constant(0)
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    @task
    def get(self) -> None:
        self.client.get(PATH, headers=HEADERS, name=PATH)


if os.environ.get("PROGRESSIVE_SHAPE"):
    SelectedShape = locust_shape_class(os.environ)


class Recorder:
    """Buffers one record per request in arrays and appends them to a file in batches."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at `quit`
        self.t = array("d")
        self.status = array("i")
        self.latency_ms = array("d")
        self.version: list[str] = []

    def on_request(self, response_time, response=None, **_kw) -> None:
        status, version = 0, ""
        if response is not None:
            status = response.status_code or 0
            headers = getattr(response, "headers", None)
            if headers:
                value = headers.get("X-Version")
                if isinstance(value, list):
                    value = value[0] if value else None
                version = value or ""
        self.t.append(time.time())
        self.status.append(status)
        self.latency_ms.append(float(response_time or 0.0))
        self.version.append(version)

    def flush(self, **_kw) -> None:
        if not self.t or self.file.closed:
            return
        lines = "".join(map(format_line, self.t, self.status, self.latency_ms, self.version))
        self.t, self.status, self.latency_ms, self.version = (
            array("d"), array("i"), array("d"), [])
        self.file.write(lines)
        self.file.flush()

    def close(self, **_kw) -> None:
        self.flush()
        self.file.close()

    def flush_every(self, seconds: float) -> None:
        while not self.file.closed:
            gevent.sleep(seconds)
            self.flush()


if os.environ.get("PROGRESSIVE_RECORD"):
    recorder = Recorder(os.environ["PROGRESSIVE_RECORD"])
    events.request.add_listener(recorder.on_request)
    events.test_stop.add_listener(recorder.flush)
    events.quitting.add_listener(recorder.flush)
    events.quit.add_listener(recorder.close)
    gevent.spawn(recorder.flush_every, float(os.environ.get("PROGRESSIVE_FLUSH_S") or 0.2))
