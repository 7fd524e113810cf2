"""The bundled engine as an EngineUnderTest: the engine's loop in a controller thread.

Like Flagger's controller, the thread ticks once per analysis interval for as long as the
engine is open, so a new revision deployed on the target is picked up at the next tick. State
and events go to the work dir (STATE/engine, events.jsonl), which is what the suites read
through `status()` and `events()`; they never touch the Engine object.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from progressive.clock import RealClock
from progressive.engine.bounds import progress_deadline_bound
from progressive.engine.events import EventLog, read_events
from progressive.engine.loop import Engine, next_tick_at
from progressive.engine.shipper import ShipperRelease
from progressive.engine.state import CanaryState, FileStateStore, Phase
from progressive.engines.base import EngineStatus
from progressive.model.types import ApplicationSpec, CanarySpec
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion


class BundledEngine:
    name = "bundled"
    loop: type[Engine] = Engine  # what ticks and what runs releases: the suite-power bench
    releases: type[ShipperRelease] = ShipperRelease  # swaps in broken ones (tests/power)

    def __init__(self, platform, work_dir: Path, *, time_scale: float = 1.0):
        self.platform = platform
        self.work_dir = Path(work_dir)
        self.time_scale = time_scale
        self.spec: CanarySpec | None = None
        self.events_path = self.work_dir / "events.jsonl"
        self._engine: Engine | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._tick_errors: list[str] = []

    def unsupported_features(self) -> frozenset[str]:
        return frozenset()

    # -- EngineUnderTest --------------------------------------------------------------------

    def apply(self, spec: CanarySpec, initial: AppVersion, replicas: int = 1) -> None:
        """Deploy the target at `initial`, start the controller, wait for Initialized."""
        self.spec = spec.scaled(self.time_scale) if self.time_scale != 1.0 else spec
        workloads = self.platform.workloads(self.spec.namespace)
        workloads.deploy(self.spec.target, initial, replicas=replicas)
        store = self._state_store()
        # A new Canary starts from scratch: a state left in a long-lived platform by an earlier
        # run of the same canary (a fixed namespace) belongs to workloads that are gone.
        store.save(CanaryState(self.spec.name, self.spec.namespace, last_transition_time=time.time()))
        self._engine = self.loop(
            self.spec,
            self.platform.router(),
            self.platform.metrics(),
            workloads,
            RealClock(),
            store,
            EventLog(self.events_path),
        )
        self._thread = threading.Thread(target=self._control_loop, name="bundled-engine", daemon=True)
        self._thread.start()
        wait_until(
            lambda: self.status().phase == Phase.INITIALIZED.value,
            timeout=progress_deadline_bound(self.spec) + 3 * self.spec.analysis.interval_s,
            what=f"canary {self.spec.name} to be Initialized ({self._last_message()})",
        )

    def _state_store(self):
        """The platform's store (a ConfigMap in a cluster, so a restarted engine resumes);
        a file in the work dir otherwise."""
        factory = getattr(self.platform, "state_store", None)
        return factory() if factory is not None else FileStateStore(self.work_dir)

    def trigger(self, app: AppVersion) -> None:
        assert self.spec is not None, "apply() first"
        self._triggered_at = time.time()
        self.platform.workloads(self.spec.namespace).deploy(self.spec.target, app)

    def status(self) -> EngineStatus:
        state = self._engine.state if self._engine else None
        if state is None:
            return EngineStatus("Initializing", 0, 0, 0)
        return EngineStatus(state.phase.value, state.canary_weight, state.failed_checks, state.iterations)

    def events(self) -> list[dict]:
        return read_events(self.events_path) if self.events_path.exists() else []

    def wait_done(self, timeout: float) -> EngineStatus:
        """Wait until the rollout started by the last trigger() ends (Succeeded / Failed)."""
        since = getattr(self, "_triggered_at", 0.0)

        def finished():
            started = any(e["action"] in ("new_revision", "restart") and e["t"] >= since
                          for e in self.events())
            st = self.status()
            return st if started and st.done else None

        return wait_until(finished, timeout=timeout, what=f"the rollout to end ({self._last_message()})")

    def release(self, app: ApplicationSpec, incumbent: AppVersion, contender: AppVersion,
                ready_timeout_s: float = 30.0) -> ShipperRelease:
        """Start a Shipper-style release: the incumbent serving, the contender at zero.

        The caller moves it with `advance_to(step)` / `run()` / `rollback()`; the routing is
        observed, as for a canary, through `release.as_canary`.
        """
        app = dataclasses.replace(app, interval_s=app.interval_s * self.time_scale)
        rel = self.releases(app, self.platform.router(), self.platform.workloads(app.namespace),
                             RealClock(), EventLog(self.events_path),
                             ready_timeout_s=ready_timeout_s)
        rel.begin(incumbent, contender)
        return rel

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- the controller ---------------------------------------------------------------------

    def _control_loop(self) -> None:
        assert self._engine is not None and self.spec is not None
        interval = self.spec.analysis.interval_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._engine.tick()
            except Exception as exc:  # noqa: BLE001 - a controller keeps ticking; the event log has it
                self._tick_errors.append(repr(exc))
            next_at = next_tick_at(next_at, time.monotonic(), interval)  # drops missed ticks
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _last_message(self) -> str:
        state = self._engine.state if self._engine else None
        last = state.message if state else "not started"
        return last + (f"; tick errors: {self._tick_errors[-1]}" if self._tick_errors else "")
