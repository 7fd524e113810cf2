"""Workloads of the local platform: N Croc Hunter processes per name, like a Deployment.

`LocalWorkloads` implements the Workloads seam (progressive/workloads/base.py). What runs is
kept in `STATE/workloads.json` (under a file lock), so a CLI command in another process sees
the same workloads the pytest run or `progressive up` started.

Kubernetes behaviour it imitates, because the engine and the suites depend on it:
- *Readiness*: a replica is ready when its `/healthz` answers 200; a workload is ready when all
  its desired replicas are. Envoy health-checks the same endpoint, so a replica that is not
  ready gets no traffic (a Service's endpoints).
- *Rolling update*: `deploy` starts the new replicas first and stops the old ones only once
  the new ones are ready (bounded); a new version that never becomes ready leaves the old
  replicas serving, as a stuck Deployment would.
- *Restarts*: `reconcile()` (called after every readiness check and by the platform's
  supervisor thread) restarts dead replicas on their port with a growing back-off, as a kubelet
  does; a restarted replica is not ready until its probe answers.
- *Progress deadline*: a workload not ready `progress_deadline_s` after its last change is
  failed for good (`Readiness.retriable=False`), like `ProgressDeadlineExceeded`.
"""

from __future__ import annotations

import fcntl
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import urllib3

from progressive import processes
from progressive.fsutil import atomic_write
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion, Readiness

EndpointsChanged = Callable[[str, str], None]  # namespace, name: its endpoints changed

BIND_TIMEOUT_S = 15.0  # a replica writes its port file within this bound (Python start-up)
ROLLING_READY_TIMEOUT_S = 20.0  # old replicas are kept until the new ones are ready, this long
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
PROBE_TIMEOUT_S = 1.0  # a readiness probe of /healthz, as Kubernetes' default timeoutSeconds


class LocalWorkloads:
    def __init__(
        self,
        state_dir: Path,
        namespace: str = "default",
        *,
        on_endpoints: EndpointsChanged | None = None,
        die_with_parent: bool = True,
        progress_deadline_s: float = 600.0,
    ):
        self.state_dir = Path(state_dir)
        self.namespace = namespace
        self.dir = self.state_dir / "workloads"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._db = self.state_dir / "workloads.json"
        self._lock_path = self.state_dir / "workloads.lock"
        self._on_endpoints = on_endpoints
        self._die_with_parent = die_with_parent
        self.progress_deadline_s = progress_deadline_s
        self._http = urllib3.PoolManager(num_pools=32, retries=False, timeout=PROBE_TIMEOUT_S)

    # -- state file -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[dict]:
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                db = json.loads(self._db.read_text()) if self._db.exists() else {}
                yield db
                atomic_write(self._db, json.dumps(db, indent=1, sort_keys=True))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_all(self) -> dict:
        try:
            return json.loads(self._db.read_text())
        except (OSError, ValueError):
            return {}

    def _read(self) -> dict:
        """This namespace's workloads, by name."""
        prefix = f"{self.namespace}/"
        return {k[len(prefix):]: v for k, v in self._read_all().items() if k.startswith(prefix)}

    def _key(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def names(self) -> list[str]:
        return sorted(self._read())

    # -- the Workloads seam -----------------------------------------------------------------

    def deploy(self, name: str, app: AppVersion, replicas: int | None = None) -> None:
        with self._locked() as db:
            entry = db.get(self._key(name)) or {"replicas": [], "desired": 1, "generation": 0}
            desired = entry["desired"] if replicas is None else replicas
            old = entry["replicas"]
            generation = entry["generation"] + 1
            new = [self._start(name, generation, i, app) for i in range(desired)]
            entry.update(
                app=asdict(app),
                hash=app.spec_hash(),
                desired=desired,
                generation=generation,
                replicas=new + old,  # old ones keep serving until the new ones are ready
                changed_at=time.time(),
            )
            db[self._key(name)] = entry
        self._wait_bound(name, new)
        self._publish(name)
        if old and new:
            try:
                wait_until(
                    lambda: all(self._healthy(r) for r in new),
                    timeout=ROLLING_READY_TIMEOUT_S,
                    what=f"the new replicas of {name} to be ready",
                )
            except TimeoutError:
                return  # stuck rollout: old replicas keep serving, readiness says not ready
        if old:
            with self._locked() as db:
                entry = db[self._key(name)]
                entry["replicas"] = [r for r in entry["replicas"] if r not in old]
            self._publish(name)
            for r in old:
                processes.stop_pid(r["pid"], r.get("create_time"))
                self._forget(r)

    def scale(self, name: str, replicas: int) -> None:
        stopped: list[dict] = []
        started: list[dict] = []
        with self._locked() as db:
            entry = db.get(self._key(name))
            if entry is None:
                raise KeyError(f"workload {name!r} does not exist")
            current = [r for r in entry["replicas"] if r["generation"] == entry["generation"]]
            app = AppVersion(**entry["app"])
            if replicas > len(current):
                used = {r["index"] for r in current}
                free = [i for i in range(replicas + len(used)) if i not in used]
                for i in free[: replicas - len(current)]:
                    started.append(self._start(name, entry["generation"], i, app))
            else:
                stopped = current[replicas:]
            entry["replicas"] = [r for r in entry["replicas"] if r not in stopped] + started
            entry["desired"] = replicas
            entry["changed_at"] = time.time()
        self._wait_bound(name, started)
        self._publish(name)  # endpoints shrink before processes stop: no request hits a dead port
        for r in stopped:
            processes.stop_pid(r["pid"], r.get("create_time"))
            self._forget(r)

    def is_ready(self, name: str) -> Readiness:
        """Readiness as observed now; then dead replicas are restarted (after their back-off).
        Observed first: restarting waits for the new replica to listen, and a check made after
        that wait would hide the outage from the tick that asked."""
        readiness = self._readiness(name)
        self.reconcile(name)
        return readiness

    def _readiness(self, name: str) -> Readiness:
        entry = self._read().get(name)
        if entry is None:
            return Readiness(False, True, f"{name} does not exist")
        if entry["desired"] == 0:
            return Readiness(False, True, f"{name} is scaled to zero")
        current = [r for r in entry["replicas"] if r["generation"] == entry["generation"]]
        ready = sum(1 for r in current if self._healthy(r))
        if ready >= entry["desired"]:
            return Readiness(True, True, f"{ready}/{entry['desired']} replicas ready")
        waited = time.time() - entry.get("changed_at", time.time())
        if waited > self.progress_deadline_s:
            return Readiness(
                False,
                False,
                f"{name}: {ready}/{entry['desired']} replicas ready after {waited:.0f}s "
                f"(progress deadline {self.progress_deadline_s:.0f}s exceeded)",
            )
        return Readiness(False, True, f"{name}: {ready}/{entry['desired']} replicas ready")

    def _ready_replicas(self, entry: dict) -> int:
        current = [r for r in entry["replicas"] if r["generation"] == entry["generation"]]
        return sum(1 for r in current if self._healthy(r)) if entry["desired"] else 0

    def spec_hash(self, name: str) -> str | None:
        entry = self._read().get(name)
        return entry["hash"] if entry else None

    def app(self, name: str) -> AppVersion | None:
        entry = self._read().get(name)
        return AppVersion(**entry["app"]) if entry else None

    def replicas(self, name: str) -> int:
        entry = self._read().get(name)
        return entry["desired"] if entry else 0

    def endpoints(self, name: str) -> list[tuple[str, int]]:
        entry = self._read().get(name) or {"replicas": []}
        return [(processes.LOOPBACK, r["port"]) for r in entry["replicas"]]

    def describe(self) -> dict:
        """Per workload: version, desired replicas, ports and ready replicas of the current
        generation (for `status --json`, as Kubernetes' readyReplicas)."""
        out = {}
        for name, entry in self._read().items():
            out[name] = {
                "version": entry["app"]["version"],
                "hash": entry["hash"],
                "replicas": entry["desired"],
                "ports": [r["port"] for r in entry["replicas"]],
                "pids": [r["pid"] for r in entry["replicas"]],
                "ready": self._ready_replicas(entry),
            }
        return out

    # -- supervision ------------------------------------------------------------------------

    def reconcile(self, name: str | None = None) -> None:
        """Restart dead replicas (same port) once their back-off has passed."""
        names = [name] if name else self.names()
        for n in names:
            restarted = []
            with self._locked() as db:
                entry = db.get(self._key(n))
                if not entry:
                    continue
                app = AppVersion(**entry["app"])
                for r in entry["replicas"]:
                    if self._alive(r):
                        continue
                    backoff = RESTART_BACKOFF_S[min(r.get("restarts", 0), len(RESTART_BACKOFF_S) - 1)]
                    if time.time() - r.get("died_seen", time.time()) < backoff:
                        r.setdefault("died_seen", time.time())
                        continue
                    fresh = self._start(n, r["generation"], r["index"], app, port=r["port"])
                    fresh["restarts"] = r.get("restarts", 0) + 1
                    r.clear()
                    r.update(fresh)
                    restarted.append(fresh)
            if restarted:
                self._wait_bound(n, restarted, quiet=True)

    def stop_all(self) -> None:
        """Stop every workload of the namespace and withdraw them from the gateway and scrapes
        (a long-lived platform would otherwise keep a dead cluster per finished rollout)."""
        gone = []
        with self._locked() as db:
            for key in [k for k in db if k.startswith(f"{self.namespace}/")]:
                for r in db.pop(key)["replicas"]:
                    processes.stop_pid(r["pid"], r.get("create_time"))
                    self._forget(r)
                gone.append(key.partition("/")[2])
        for name in gone:
            self._publish(name)

    # -- helpers ----------------------------------------------------------------------------

    def _start(self, name: str, generation: int, index: int, app: AppVersion, port: int = 0) -> dict:
        proc_name = f"app-{self.namespace}-{name}-g{generation}-{index}"
        port_file = self.dir / f"{proc_name}.port"
        port_file.unlink(missing_ok=True)
        argv = [
            sys.executable, "-m", "progressive.app",
            f"--version={app.version}",  # one item with `=`: a value may start with '-'
            f"--commit={app.commit}",
            "--error-rate", repr(app.error_rate),
            "--latency-ms", repr(app.latency_ms),
            "--crash-after", str(app.crash_after),
            "--host", processes.LOOPBACK,
            "--port", str(port),
            "--port-file", str(port_file),
            "--never-ready" if app.never_ready else "--no-never-ready",
        ]  # fmt: skip
        proc = processes.start_process(
            proc_name, argv, self.state_dir, env=app.env, die_with_parent=self._die_with_parent
        )
        create_time = processes.recorded_create_time(self.state_dir, proc_name)
        return {
            "pid": proc.pid,
            "create_time": create_time,
            "proc": proc_name,
            "port_file": str(port_file),
            "port": port,
            "generation": generation,
            "index": index,
        }

    def _wait_bound(self, name: str, started: list[dict], quiet: bool = False) -> None:
        """Wait until every started replica has written its port; record the ports."""
        for r in started:
            port_file = Path(r["port_file"])

            def bound_port(pf: Path = port_file) -> int:
                return int(pf.read_text().strip() or 0) if pf.exists() else 0

            try:
                port = wait_until(
                    bound_port,
                    timeout=BIND_TIMEOUT_S,
                    what=f"replica {r['proc']} to listen",
                )
            except TimeoutError:
                if quiet:
                    continue
                log = processes.log_tail(self.state_dir, r["proc"])
                raise RuntimeError(f"replica {r['proc']} did not start:\n{log}") from None
            with self._locked() as db:
                for rr in db.get(self._key(name), {}).get("replicas", []):
                    if rr.get("proc") == r["proc"]:
                        rr["port"] = port
            r["port"] = port
        if started:
            self._publish(name)

    def _publish(self, name: str) -> None:
        if self._on_endpoints is not None:
            self._on_endpoints(self.namespace, name)

    def _healthy(self, replica: dict) -> bool:
        if not replica.get("port") or not self._alive(replica):
            return False
        try:
            url = f"http://{processes.LOOPBACK}:{replica['port']}/healthz"
            return self._http.request("GET", url).status == 200
        except urllib3.exceptions.HTTPError:
            return False

    @staticmethod
    def _alive(replica: dict) -> bool:
        return processes.pid_alive(replica["pid"], replica.get("create_time"))

    def _forget(self, replica: dict) -> None:
        (self.state_dir / "pids" / f"{replica['proc']}.json").unlink(missing_ok=True)
        Path(replica.get("port_file", "/nonexistent")).unlink(missing_ok=True)
