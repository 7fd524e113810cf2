"""What the node and mesh agents share: their command line, signals, a loop that logs an
API hiccup (where in our code it surfaced) and tries again next round instead of dying, and
watches that wake the loop as soon as an object it acts on changes (the period stays as a
fallback: a change a watch missed is picked up at the next round)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

WATCH_S = 300  # a watch is re-opened after this long (the API server ends it anyway)
RETRY_S = 1.0  # after a failed watch (the API server restarting, a 410 Gone)


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


def wake_on_changes(stop: threading.Event, wake: threading.Event,
                    lists: list[tuple[Callable[..., Any], tuple]],
                    also: threading.Event | None = None, **selectors: str) -> None:
    """A daemon thread per `(list function, args)` that watches it (with `selectors`, e.g.
    field_selector) and sets `wake` (and `also`) on every event. The first events (the
    objects as they are) wake it once more: harmless."""
    from kubernetes import watch

    def follow(list_fn: Callable[..., Any], args: tuple) -> None:
        while not stop.is_set():
            try:
                for _ in watch.Watch().stream(list_fn, *args, timeout_seconds=WATCH_S,
                                              **selectors):
                    if also is not None:
                        also.set()
                    wake.set()
                    if stop.is_set():
                        return
            except Exception as exc:  # noqa: BLE001 - re-open; the period covers the gap
                log_failure(f"watch {getattr(list_fn, '__name__', list_fn)}", exc)
                stop.wait(RETRY_S)

    for list_fn, args in lists:
        threading.Thread(target=follow, args=(list_fn, args), daemon=True,
                         name=f"watch-{getattr(list_fn, '__name__', 'objects')}").start()


def run_rounds(stop: threading.Event, wake: threading.Event, period_s: float,
               round_: Callable[[], None], who: str) -> None:
    """`round_()` whenever `wake` is set, and every `period_s` at least, until `stop`."""
    while not stop.is_set():
        wake.wait(period_s)
        wake.clear()
        if stop.is_set():
            return
        try:
            round_()
        except Exception as exc:  # noqa: BLE001 - an API hiccup: log, next round retries
            log_failure(who, exc)
