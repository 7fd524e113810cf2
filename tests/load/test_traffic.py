"""Locust in a subprocess against a real Croc Hunter: records, totals, pacing, workers, cleanup.

Every test drives one app process directly (no gateway). Waits are bounded by
`wait_for_requests(n, timeout)`; the timeouts are far above what a loaded 2-core machine needs
(one Locust process serves several thousand requests per second here).
"""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import psutil
import pytest

from progressive.load.recording import failure_count, status_counts, version_counts
from progressive.load.shapes import ConstantShape, StepShape
from progressive.load.traffic import LoadError, traffic
from progressive.processes import free_port
from progressive.stats import acceptance_interval

pytestmark = pytest.mark.integration

WAIT_S = 60.0  # bound for a few thousand requests, with Locust's ~1-3 s startup


def _locust_processes(run) -> list[psutil.Process]:
    """Processes of this run still alive (zombies excluded), found by pid and by workdir."""
    alive = []
    pids = [p.pid for p in [run.main, *run.worker_procs] if p is not None]
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        mine = proc.info["pid"] in pids or (str(run.workdir) in cmdline and "locust" in cmdline)
        if mine and proc.info["status"] != psutil.STATUS_ZOMBIE:
            alive.append(proc)
    return alive


def test_every_request_is_recorded_with_its_version(croc, tmp_path):
    url = croc("--version", "v1", "--error-rate", "0")
    with traffic(url, rps=0, users=5, workdir=tmp_path / "load") as run:
        run.wait_for_requests(2000, timeout=WAIT_S)
    assert run.totals is not None
    assert len(run.records) == run.totals.num_requests  # exact, not approximately
    assert run.totals.num_failures == 0
    assert version_counts(run.records) == {"v1": len(run.records)}
    assert status_counts(run.records) == {200: len(run.records)}
    assert list(run.records.t) == sorted(run.records.t)
    assert min(run.records.latency_ms) >= 0
    assert not _locust_processes(run)


def test_errored_requests_keep_status_and_version(croc, tmp_path):
    url = croc("--version", "v2", "--error-rate", "0.5")
    with traffic(url, rps=0, users=5, workdir=tmp_path / "load") as run:
        run.wait_for_requests(2000, timeout=WAIT_S)
    n = len(run.records)
    statuses = status_counts(run.records)
    assert set(statuses) == {200, 500}
    # Each request errs independently with p = 0.5: k ~ Binomial(n, 0.5), n >= 2000,
    # exact acceptance region with false-alarm probability 1e-4.
    lo, hi = acceptance_interval(n, 0.5, alpha=1e-4)
    assert lo <= statuses[500] <= hi, (statuses, n, (lo, hi))
    assert version_counts(run.records) == {"v2": n}  # a 500 still names its version
    assert run.totals is not None and run.totals.num_requests == n
    assert run.totals.num_failures == statuses[500] == failure_count(run.records)


def test_connection_errors_are_status_zero(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with traffic(url, rps=50, users=2, workdir=tmp_path / "load") as run:
        run.wait_for_requests(20, timeout=WAIT_S)
    assert status_counts(run.records) == {0: len(run.records)}
    assert version_counts(run.records) == {"": len(run.records)}
    assert run.totals is not None
    assert run.totals.num_failures == run.totals.num_requests == len(run.records)


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers with X-Version = "Host|X-Preview|path": what the load generator sent."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        echo = f"{self.headers.get('Host')}|{self.headers.get('X-Preview')}|{self.path}"
        self.send_header("X-Version", echo)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_path_headers_and_virtual_host_reach_the_server(echo_server, tmp_path):
    with traffic(echo_server, rps=50, users=1, path="/pr/42?x=1",
                 headers={"X-Preview": "pr-42"}, host_header="croc-hunter.example",
                 workdir=tmp_path / "load") as run:
        run.wait_for_requests(5, timeout=WAIT_S)
    assert version_counts(run.records) == {"croc-hunter.example|pr-42|/pr/42?x=1": len(run.records)}


def requests_per_second(times, whole: bool = False) -> np.ndarray:
    """Requests in [t, t + 1 s) for each request time t (sorted); `whole`: only the windows
    that end before the last request (wholly inside the run)."""
    t = np.asarray(times)
    starts = t[t <= t[-1] - 1.0] if whole else t
    return np.searchsorted(t, starts + 1.0) - np.arange(len(starts))


def test_rate_is_paced_to_the_target(croc, tmp_path):
    """rps=100 for 5 s: 500 requests expected; at most 1.2x, and 100 +- 20 in a typical second.

    constant_throughput never runs a user faster than its share (the upper bound holds
    exactly up to the first request of each user); it never makes up for lost time either, so
    the total can fall short after a stall of a busy machine. The rate is judged on the median
    of the 1 s windows that start at a request: a stall of up to 2 s cannot move it.
    """
    url = croc("--version", "v1", "--error-rate", "0")
    with traffic(url, rps=100, users=10, duration_s=5, workdir=tmp_path / "load") as run:
        pass  # a run with a duration lasts that long
    assert run.totals is not None and run.totals.num_requests == len(run.records)
    assert len(run.records) <= 600, len(run.records)
    per_second = requests_per_second(run.records.t, whole=True)
    print(f"median requests per second {np.median(per_second)}, total {len(run.records)}")
    assert 80 <= np.median(per_second) <= 120, np.median(per_second)


def test_step_shape_raises_the_rate_with_the_users(croc, tmp_path):
    """1, 2, then 3 users at 20 req/s each, 1 s per step: 20 + 40 + 60 = 120 requests."""
    url = croc("--version", "v1", "--error-rate", "0")
    shape = StepShape(step_users=1, step_s=1, users=3)
    with traffic(url, rps=60, users=3, shape=shape, duration_s=3,
                 workdir=tmp_path / "load") as run:
        pass  # the shape ends the run after duration_s
    records = run.records
    assert run.totals is not None and run.totals.num_requests == len(records)
    assert 0.5 * 120 <= len(records) <= 1.2 * 120, len(records)  # lower: stalls, as above
    per_second = requests_per_second(records.t)
    first_second, busiest_second = per_second[0], per_second.max()  # about 20 and 60
    # Any second in the last two steps (40, then 60 req/s) beats 1.5 x the first: a stall must
    # cover most of them to hide the rise.
    assert busiest_second > 1.5 * first_second, (first_second, busiest_second)


@pytest.fixture(params=["foreground", "background-job"])
def harness_sigint(request):
    """The harness as started from a terminal, or as a script's `cmd &` (SIGINT ignored, which
    its children inherit unless the harness resets it: the shape run is stopped by SIGINT)."""
    if request.param == "foreground":
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_shape_without_duration_is_stopped_cleanly_at_the_end_of_the_block(croc, tmp_path,
                                                                              harness_sigint):
    url = croc("--version", "v1", "--error-rate", "0")
    with traffic(url, rps=100, users=2, shape=ConstantShape(users=2),
                 workdir=tmp_path / "load") as run:
        run.wait_for_requests(50, timeout=WAIT_S)
    assert run.totals is not None, "Locust was killed instead of stopped"
    assert len(run.records) >= 50
    assert not _locust_processes(run)


def test_distributed_workers_record_and_merge(croc, tmp_path):
    url = croc("--version", "v1", "--error-rate", "0")
    workdir = tmp_path / "load"
    with traffic(url, rps=400, users=4, workers=2, workdir=workdir) as run:
        run.wait_for_requests(1000, timeout=WAIT_S)
    assert run.totals is not None
    # Locust's master writes its totals 0.5 s after telling the workers to quit; a worker's
    # last report can miss that on a busy machine. The records are complete either way.
    assert len(run.records) >= run.totals.num_requests
    per_worker = [len(p.read_text().splitlines()) for p in sorted(workdir.glob("records-*.csv"))]
    assert len(per_worker) == 2 and all(per_worker), per_worker
    assert sum(per_worker) == len(run.records)
    assert list(run.records.t) == sorted(run.records.t)
    assert not _locust_processes(run)


@pytest.mark.parametrize("workers", [0, 2])
def test_block_raising_stops_every_locust_process(croc, tmp_path, workers):
    url = croc("--version", "v1", "--error-rate", "0")
    with pytest.raises(RuntimeError, match="the test failed"):
        with traffic(url, rps=100, users=4, workers=workers, workdir=tmp_path / "load") as run:
            run.wait_for_requests(10, timeout=WAIT_S)
            assert _locust_processes(run)
            raise RuntimeError("the test failed")
    assert not _locust_processes(run)
    assert len(run.records) >= 10  # what was recorded before the failure is kept


def test_broken_locustfile_is_reported_with_its_log(croc, tmp_path):
    url = croc("--version", "v1")
    bad = tmp_path / "broken_locustfile.py"
    bad.write_text("raise RuntimeError('broken on purpose')\n")
    with pytest.raises(LoadError, match="broken on purpose"):
        with traffic(url, rps=10, users=1, locustfile=bad, workdir=tmp_path / "load") as run:
            run.wait_for_requests(1, timeout=WAIT_S)
    assert not _locust_processes(run)


def test_own_workdir_is_removed_after_a_good_run(croc):
    url = croc("--version", "v1")
    with traffic(url, rps=50, users=2) as run:
        run.wait_for_requests(10, timeout=WAIT_S)
    assert not Path(run.workdir).exists()
    assert len(run.records) == run.totals.num_requests
