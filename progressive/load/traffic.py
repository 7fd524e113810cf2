"""Drive load with Locust in a subprocess and read back what answered each request.

    with traffic(gateway_url, rps=200, users=20) as run:
        run.wait_for_requests(500, timeout=30)
        ...                                   # roll out, switch, ...
    run.records, run.totals                   # every request; Locust's own exact totals

Used by the suites, the CLI (`--rps`) and the benchmarks. Locust runs headless in its own
process group (`import locust` would patch the harness with gevent) and is always stopped when
the block ends, on an exception or Ctrl-C too. With `duration_s` the block waits for the run to
end; without it the run lasts as long as the block and is then stopped with SIGTERM, which lets
Locust finish in-flight requests, flush the records and write its `--json-file` totals. Not
SIGINT: Python raises KeyboardInterrupt wherever Locust happens to be, possibly between two
listeners of one request (recorded here, not yet counted in Locust's stats); Locust handles
SIGTERM in a greenlet of its own, between requests. (A run with a load shape gets SIGINT:
Locust only installs that handler once the shape is over.)
`workers=N` runs one master and N worker processes (see load/README.md for when).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from progressive.load.recording import RecordFileReader, Records
from progressive.load.shapes import Shape
from progressive.processes import (
    LOOPBACK,
    ManagedProcess,
    find_binary,
    free_port,
    start_process,
    stop_all_recorded,
)
from progressive.waiting import wait_until

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STOP_TIMEOUT_S = 2  # Locust's --stop-timeout: in-flight requests get this long to finish
STOP_BOUND_S = 15.0  # SIGTERM to exit: stop-timeout + the master's 0.5 s + writing files, generous


class LoadError(RuntimeError):
    """Locust failed (bad locustfile, unreachable master, crash); the message has its log tail."""


@dataclass(frozen=True)
class Totals:
    """Locust's own counts from `--json-file` (exact, unlike its CSV stats)."""

    num_requests: int
    num_failures: int
    endpoints: dict[str, tuple[int, int]]  # "GET /path" -> (requests, failures)

    @classmethod
    def from_json(cls, entries: list[dict]) -> Totals:
        endpoints = {
            f"{e['method']} {e['name']}": (int(e["num_requests"]), int(e["num_failures"]))
            for e in entries
        }
        return cls(
            num_requests=sum(r for r, _ in endpoints.values()),
            num_failures=sum(f for _, f in endpoints.values()),
            endpoints=endpoints,
        )


def locust_binary() -> str:
    """The `locust` next to this interpreter (the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "locust"
    return str(beside) if beside.exists() else find_binary("locust")


class TrafficRun:
    """One Locust run (single process or master + workers) and its records."""

    def __init__(
        self,
        url: str,
        *,
        rps: float,
        users: int,
        duration_s: float | None,
        path: str = "/",
        headers: Mapping[str, str] | None = None,
        host_header: str | None = None,
        shape: Shape | None = None,
        workers: int = 0,
        spawn_rate: float | None = None,
        workdir: Path | None = None,
        locustfile: Path = LOCUSTFILE,
        startup_timeout: float = 60.0,
    ) -> None:
        if users < 1 or rps < 0 or workers < 0:
            raise ValueError(f"need users >= 1, rps >= 0, workers >= 0 (got {users}, {rps}, {workers})")
        self.url = url.rstrip("/")
        self.rps, self.users, self.workers = rps, users, workers
        self.duration_s = None if duration_s is None else max(1, math.ceil(duration_s))
        self.path, self.headers, self.host_header = path, dict(headers or {}), host_header
        self.shape = shape
        self.spawn_rate = spawn_rate or float(users * 10)
        self.locustfile = Path(locustfile)
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="progressive-load-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.json_path = self.workdir / "locust.json"  # Locust appends ".json" to --json-file
        self.main: ManagedProcess | None = None
        self.worker_procs: list[ManagedProcess] = []
        self.totals: Totals | None = None
        self.exit_code: int | None = None
        self._readers: list[RecordFileReader] = []
        self._live = Records()
        self._sorted: Records | None = None

    # --- starting ----------------------------------------------------------------------

    def _env(self, record: Path | None) -> dict[str, str]:
        env = {
            "PROGRESSIVE_PATH": self.path,
            "PROGRESSIVE_HEADERS": json.dumps(self.headers),
            "PROGRESSIVE_HOST_HEADER": self.host_header or "",
            "PROGRESSIVE_RPS": str(self.rps),
            "PROGRESSIVE_USERS": str(self.users),
            "PROGRESSIVE_RECORD": str(record) if record else "",
            "PROGRESSIVE_SHAPE": "",
            "PROGRESSIVE_DURATION_S": "",
            "PYTHONUNBUFFERED": "1",
        }
        if self.shape is not None:
            env.update(self.shape.to_env())
            env["PROGRESSIVE_USERS"] = str(self.users)  # the rate is split over `users`
            env["PROGRESSIVE_DURATION_S"] = str(self.duration_s or "")
        return env

    def _common_args(self) -> list[str]:
        return [locust_binary(), "-f", str(self.locustfile), "--host", self.url]

    def _run_args(self) -> list[str]:
        args = [
            "--headless",
            "-u", str(self.users),
            "-r", str(self.spawn_rate),
            "--json-file", str(self.json_path.with_suffix("")),
            "--only-summary",
            "--stop-timeout", str(STOP_TIMEOUT_S),
        ]
        if self.duration_s is not None and self.shape is None:
            args += ["-t", f"{self.duration_s}s"]
        return args

    def start(self) -> TrafficRun:
        if self.workers == 0:
            record = self.workdir / "records-0.csv"
            self._readers.append(RecordFileReader(record))
            self.main = start_process(
                "locust", self._common_args() + self._run_args(), self.workdir,
                env=self._env(record),
            )
            return self
        port = free_port()
        master_args = self._run_args() + [
            "--master",
            "--master-bind-host", LOOPBACK,
            "--master-bind-port", str(port),
            "--expect-workers", str(self.workers),
            "--expect-workers-max-wait", str(int(self.startup_timeout)),
        ]
        self.main = start_process(
            "locust-master", self._common_args() + master_args, self.workdir, env=self._env(None)
        )
        for i in range(1, self.workers + 1):
            record = self.workdir / f"records-{i}.csv"
            self._readers.append(RecordFileReader(record))
            worker_args = ["--worker", "--master-host", LOOPBACK, "--master-port", str(port)]
            self.worker_procs.append(start_process(
                f"locust-worker-{i}", self._common_args() + worker_args, self.workdir,
                env=self._env(record),
            ))
        return self

    # --- observing ---------------------------------------------------------------------

    def _refresh(self) -> int:
        new = sum(reader.read_new(self._live) for reader in self._readers)
        if new:
            self._sorted = None
        return len(self._live)

    @property
    def records(self) -> Records:
        """Every record read so far (all of them once the block has ended), by time."""
        if self.running():
            self._refresh()
        if self._sorted is None:
            self._sorted = self._live.sorted_by_time()
        return self._sorted

    def records_between(self, t0: float, t1: float) -> Records:
        return self.records.between(t0, t1)

    def running(self) -> bool:
        return self.main is not None and self.main.alive()

    def wait_for_requests(self, n: int, timeout: float) -> int:
        """Wait until at least `n` records were flushed; return the count. Bounded by `timeout`."""
        wait_until(
            lambda: self._refresh() >= n or not self.running(),
            timeout=timeout,
            what=f"Locust to record {n} requests (log: {self.main.log_path if self.main else '-'})",
        )
        count = self._refresh()
        if count < n:
            raise LoadError(
                f"Locust exited after {count} of the {n} requests waited for\n{self.log_tail()}"
            )
        return count

    def log_tail(self, lines: int = 30) -> str:
        procs = [p for p in [self.main, *self.worker_procs] if p is not None]
        return "\n".join(f"--- {p.name} ({p.log_path}):\n{p.log_tail(lines)}" for p in procs)

    # --- stopping ----------------------------------------------------------------------

    def finish(self) -> None:
        """End the run normally: wait for its duration, or stop it now; then read everything."""
        assert self.main is not None
        if self.duration_s is not None:
            bound = self.startup_timeout + self.duration_s + STOP_BOUND_S
            self._wait_exit(self.main, bound)
        else:
            # A signal before Locust runs its users would kill it before it writes anything.
            self._wait_first_record()
            self._interrupt(self.main)
        for proc in [self.main, *self.worker_procs]:
            self._wait_exit(proc, STOP_BOUND_S)
        self.exit_code = self.main.popen.returncode if self.main.popen else None
        self._collect()
        if self.totals is None:
            raise LoadError(
                f"Locust ended (exit code {self.exit_code}) without writing its totals "
                f"{self.json_path}\n{self.log_tail()}"
            )

    def abort(self) -> None:
        """Stop every process now (the block raised); keep whatever was recorded."""
        for proc in [self.main, *self.worker_procs]:
            if proc is not None and proc.alive():
                self._interrupt(proc)
        for proc in [self.main, *self.worker_procs]:
            if proc is not None:
                self._wait_exit(proc, 3.0)
        self._collect()

    def cleanup(self) -> None:
        stop_all_recorded(self.workdir, timeout=2.0)
        if self._own_workdir and self.totals is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _wait_first_record(self) -> None:
        try:
            wait_until(
                lambda: self._refresh() > 0 or not self.running(),
                timeout=self.startup_timeout,
                what="Locust's first request",
            )
        except TimeoutError:
            pass  # stop it anyway; finish() reports the missing totals with the log

    def _interrupt(self, proc: ManagedProcess) -> None:
        """SIGTERM, except with a load shape: Locust waits for the shape before it installs its
        SIGTERM handler (SIGTERM would kill it unflushed) and stops on Ctrl-C there instead."""
        if proc.popen is not None and proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGINT if self.shape is not None else signal.SIGTERM)

    @staticmethod
    def _wait_exit(proc: ManagedProcess, bound: float) -> None:
        """Wait up to `bound` s for `proc` to exit; then stop it (SIGTERM, SIGKILL)."""
        if proc.popen is not None:
            try:
                proc.popen.wait(timeout=bound)
            except subprocess.TimeoutExpired:
                pass
        proc.stop(timeout=2.0)  # no-op once it exited; also removes its pid record

    def _collect(self) -> None:
        self._refresh()
        self._sorted = None
        try:
            self.totals = Totals.from_json(json.loads(self.json_path.read_text()))
        except (OSError, ValueError, KeyError):
            self.totals = None


@contextmanager
def traffic(
    url: str,
    rps: float = 200,
    users: int = 20,
    duration_s: float | None = None,
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    host_header: str | None = None,
    shape: Shape | None = None,
    workers: int = 0,
    **options,
) -> Iterator[TrafficRun]:
    """Run Locust against `url` for the duration of the block (or `duration_s`, whole seconds).

    `rps` is the total target rate split over `users` (0: as fast as they can); `shape` a
    ConstantShape / StepShape / SpikeShape from progressive.load.shapes; `workers` > 0 for distributed mode.
    Extra `options` go to TrafficRun (spawn_rate, workdir, locustfile, startup_timeout).
    After the block: `run.records` (every request) and `run.totals` (Locust's --json-file).
    """
    run = TrafficRun(
        url, rps=rps, users=users, duration_s=duration_s, path=path, headers=headers,
        host_header=host_header, shape=shape, workers=workers, **options,
    )
    try:
        run.start()
        try:
            yield run
        except BaseException:
            run.abort()
            raise
        run.finish()
    finally:
        run.cleanup()
