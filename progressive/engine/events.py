"""The engine's event log: one JSON record per tick and per action, in memory and as JSON lines.

The engine records; the CLI (`rollout --events-json`), the bundled EngineUnderTest and the
suites read. Every record carries the canary's counters at the moment of the action:

    {"t": 1700000015.0, "canary": "croc-hunter", "namespace": "jx-production",
     "phase": "Progressing", "canaryWeight": 10, "primaryWeight": 90, "mirrored": false,
     "failedChecks": 1, "iterations": 0, "action": "check_failed",
     "message": "request-success-rate 94.80 < min 99"}

`t` is unix seconds from the engine's clock (virtual time under a FakeClock).
"""

from __future__ import annotations

import json
from pathlib import Path

from progressive.engine.state import CanaryState

ACTIONS = frozenset(
    {
        "tick",  # one per tick, last, with the tick's outcome as message
        "initialize",  # primary created / initialisation done
        "new_revision",  # a new revision was detected and the canary scaled up
        "restart",  # the revision changed during the analysis: start over
        "step",  # a routing change made by a strategy (weight step, iteration, switch)
        "check",  # a metric check passed
        "check_failed",  # a metric check failed (counted)
        "hook",  # a webhook answered as hoped (or a rollback hook declined)
        "hook_failed",  # a pre-rollout / rollout (counted) or post-rollout (logged) hook failed
        "gate_halt",  # a confirm-* gate said no: waiting, not counted
        "promote",  # the canary's revision was copied to the primary
        "finalise",  # all traffic back on the primary
        "succeed",  # canary scaled to zero, Succeeded
        "rollback",  # routes back to the primary (or, promotion failed, to the canary), Failed
        "wait",  # nothing could be done this tick (not ready, router error, ...)
    }
)


class EventLog:
    """Keeps records in memory; appends each one to `path` (JSON lines) when a path is given."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else None
        self._records: list[dict] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, t: float, state: CanaryState, action: str, message: str = "") -> dict:
        if action not in ACTIONS:
            raise ValueError(f"unknown event action {action!r}")
        rec = {
            "t": t,
            "canary": state.name,
            "namespace": state.namespace,
            "phase": state.phase.value,
            "canaryWeight": state.canary_weight,
            "primaryWeight": state.primary_weight,
            "mirrored": state.mirrored,
            "failedChecks": state.failed_checks,
            "iterations": state.iterations,
            "action": action,
            "message": message,
        }
        self._records.append(rec)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
        return rec

    @property
    def records(self) -> list[dict]:
        return list(self._records)

    def of(self, *actions: str) -> list[dict]:
        return [r for r in self._records if r["action"] in actions]


def read_events(path: Path) -> list[dict]:
    """Records of a JSON-lines event log; a torn last line (a crash mid-write) is skipped."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
