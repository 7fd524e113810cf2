"""What the node and mesh agents share: their command line, signals, and a loop that logs an
API hiccup (where in our code it surfaced) and tries again next round instead of dying."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Protocol


class Agent(Protocol):
    stop: threading.Event

    def run(self) -> None: ...


def parser(module: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m progressive.platforms.k8s_local.{module}")
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    return p


def serve(agent: Agent) -> int:
    """Run `agent` until SIGTERM or SIGINT."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop.set())
    agent.run()
    return 0


def log_failure(who: str, exc: Exception) -> None:
    ours = [f for f in traceback.extract_tb(exc.__traceback__) if "/progressive/" in f.filename]
    where = f" at {ours[-1].name}:{ours[-1].lineno}" if ours else ""
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"{who}: {type(exc).__name__}{where}: {first}", file=sys.stderr, flush=True)
