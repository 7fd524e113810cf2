"""Every socket a process of the project listens on is bound to 127.0.0.1.

Read from the kernel (psutil, per pid) while the processes run: the local platform's Envoy
(admin and listener) and Prometheus, Croc Hunter replicas, Locust alone and as master and
worker, and the load-test webhook receiver. A TCP socket in LISTEN and any bound UDP socket
count; a process that should serve and listens on nothing fails the test too (it would mean
the check saw the wrong pid).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psutil
import pytest

from progressive.load.traffic import traffic
from progressive.processes import start_process, stop_all_recorded
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 15.0  # a Python process binding its port, on a loaded 2-core machine


def listeners(pid: int) -> list[tuple[str, str, int]]:
    """(kind, address, port) of every listening TCP or bound UDP socket of `pid`."""
    out = []
    for c in psutil.Process(pid).net_connections("inet"):
        if c.type == socket.SOCK_STREAM and c.status == psutil.CONN_LISTEN:
            out.append(("tcp", c.laddr.ip, c.laddr.port))
        elif c.type == socket.SOCK_DGRAM and c.laddr:
            out.append(("udp", c.laddr.ip, c.laddr.port))
    return out


@pytest.fixture
def load_tester(tmp_path: Path):
    port_file = tmp_path / "loadtester.port"
    proc = start_process("loadtester", [sys.executable, "-m", "progressive.load.loadtester",
                                        "--port", "0", "--port-file", str(port_file)], tmp_path)
    try:
        wait_until(port_file.exists, timeout=START_TIMEOUT_S, what="the load tester's port")
        yield proc.pid
    finally:
        stop_all_recorded(tmp_path)


def test_every_listener_of_every_started_process_is_on_loopback(platform, namespace,
                                                                 load_tester, record_property):
    if platform.name != "local":
        pytest.skip("the local platform's processes")
    workloads = platform.workloads(namespace)
    workloads.deploy("croc-hunter", AppVersion("v1"), replicas=2)
    try:
        servers = {"envoy": platform.gateway.pid, "prometheus": platform.prometheus.pid,
                   "load-tester": load_tester}
        for i, pid in enumerate(workloads.describe()["croc-hunter"]["pids"]):
            servers[f"croc-hunter-{i}"] = pid
        with traffic(platform.gateway_url, rps=20, users=2) as single, \
                traffic(platform.gateway_url, rps=20, users=2, workers=1) as distributed:
            single.wait_for_requests(5, timeout=60)
            distributed.wait_for_requests(5, timeout=60)
            clients = {"locust": single.main.pid, "locust-master": distributed.main.pid,
                       **{f"locust-worker-{i}": w.pid
                          for i, w in enumerate(distributed.worker_procs)}}
            sockets = {name: listeners(pid) for name, pid in {**servers, **clients}.items()}
    finally:
        workloads.stop_all()
    for name, found in sockets.items():
        print(f"{name}: {found}")
    record_property("listeners", {k: len(v) for k, v in sockets.items()})
    exposed = {name: [s for s in found if s[1] != LOOPBACK] for name, found in sockets.items()}
    assert not any(exposed.values()), f"not on {LOOPBACK}: {exposed}"
    silent = [name for name in [*servers, "locust-master"] if not sockets[name]]
    assert not silent, f"these should listen and do not: {silent}"
    assert len(sockets["envoy"]) >= 2, "Envoy: admin and the gateway listener"
