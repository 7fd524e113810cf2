"""The bundled rollout engine: Flagger's analysis loop, tick-driven (SEMANTICS.md §4-§10).

    engine = Engine(spec.scaled(0.1), router, metrics, workloads, clock, store, EventLog())
    engine.tick()                       # initialise: primary, routes 100/0
    workloads.deploy(spec.target, AppVersion("v2"))
    state = engine.run_until_done()     # Succeeded or Failed

Modules: loop (the tick), strategies (canary / blue-green / A-B moves), checks (metrics and
webhooks), state (CanaryState, stores), events (the event log), bounds (expected ticks and
time bounds of a spec).
"""

from progressive.engine.bounds import (
    ExpectedTick,
    expected_ticks,
    progress_deadline_bound,
    rollback_bound,
    rollout_bounds,
    run_bound,
)
from progressive.engine.events import EventLog, read_events
from progressive.engine.loop import Engine, RolloutTimeout
from progressive.engine.state import (
    CanaryState,
    FileStateStore,
    MemoryStateStore,
    Phase,
    StateStore,
)

__all__ = [
    "CanaryState",
    "Engine",
    "EventLog",
    "ExpectedTick",
    "FileStateStore",
    "MemoryStateStore",
    "Phase",
    "RolloutTimeout",
    "StateStore",
    "expected_ticks",
    "progress_deadline_bound",
    "read_events",
    "rollback_bound",
    "rollout_bounds",
    "run_bound",
]
