"""What the bundled engine remembers about one canary, and where it keeps it (SEMANTICS.md §4).

`CanaryState` is Flagger's canary status plus the few timestamps the bundled engine needs for
its deadlines. The engine saves it after every tick through a `StateStore`:
`FileStateStore` writes `STATE_DIR/engine/<namespace>_<name>.json` atomically (temp file in the
same directory, fsync, rename), so `progressive status`, a suite or a restarted engine always
read a whole document; `MemoryStateStore` serves the unit tests.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol

from progressive.fsutil import atomic_write


class Phase(str, enum.Enum):
    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"

    def __str__(self) -> str:
        return self.value


# Phases in which the engine has work to do on every tick (SEMANTICS.md §4 step 2).
ACTIVE_PHASES = frozenset(
    {Phase.PROGRESSING, Phase.WAITING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING}
)
FINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED})

_KEYS = {  # python field -> status key (Flagger's camelCase where Flagger has the field)
    "name": "name",
    "namespace": "namespace",
    "phase": "phase",
    "canary_weight": "canaryWeight",
    "primary_weight": "primaryWeight",
    "mirrored": "mirrored",
    "failed_checks": "failedChecks",
    "iterations": "iterations",
    "last_applied_spec": "lastAppliedSpec",
    "last_promoted_spec": "lastPromotedSpec",
    "last_transition_time": "lastTransitionTime",
    "progressing_since": "progressingSince",
    "promoting_since": "promotingSince",
    "target_replicas": "targetReplicas",
    "message": "message",
    "last_tick_time": "lastTickTime",
}


@dataclass
class CanaryState:
    name: str
    namespace: str
    phase: Phase = Phase.INITIALIZING
    canary_weight: int = 0  # the live weights as last set or read by the engine
    primary_weight: int = 100
    mirrored: bool = False
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str | None = None  # hash of the revision under analysis
    last_promoted_spec: str | None = None  # hash of the revision the primary serves
    last_transition_time: float | None = None
    # Since when the canary has been expected to become ready (None once it was ready): the
    # progress deadline counts from here.
    progressing_since: float | None = None
    # Since when the promoted primary has been expected to become ready (Promoting/Finalising).
    promoting_since: float | None = None
    target_replicas: int = 1  # the target's replica count, recorded before it is scaled to zero
    message: str = ""  # why the last tick did what it did
    last_tick_time: float | None = None  # when the last tick ended: a resumed engine waits an interval

    def set_phase(self, phase: Phase, now: float) -> None:
        if phase is not self.phase:
            self.phase = phase
            self.last_transition_time = now

    def to_dict(self) -> dict:
        raw = asdict(self)
        raw["phase"] = self.phase.value
        return {_KEYS[k]: v for k, v in raw.items()}

    @classmethod
    def from_dict(cls, data: dict) -> CanaryState:
        known = {f.name for f in fields(cls)}
        values = {k: data[key] for k, key in _KEYS.items() if key in data and k in known}
        values["phase"] = Phase(values.get("phase", Phase.INITIALIZING.value))
        return cls(**values)


class StateStore(Protocol):
    def load(self, namespace: str, name: str) -> CanaryState | None: ...

    def save(self, state: CanaryState) -> None: ...


class MemoryStateStore:
    """In-memory store for tests; `saved` keeps every saved document in order."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], dict] = {}
        self.saved: list[dict] = []

    def load(self, namespace: str, name: str) -> CanaryState | None:
        doc = self._docs.get((namespace, name))
        return CanaryState.from_dict(doc) if doc is not None else None

    def save(self, state: CanaryState) -> None:
        doc = state.to_dict()
        self._docs[(state.namespace, state.name)] = doc
        self.saved.append(doc)


class FileStateStore:
    """One JSON document per canary under `state_dir/engine/`."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir) / "engine"

    def path(self, namespace: str, name: str) -> Path:
        return self.dir / f"{namespace}_{name}.json"

    def load(self, namespace: str, name: str) -> CanaryState | None:
        try:
            doc = json.loads(self.path(namespace, name).read_text())
        except FileNotFoundError:
            return None
        return CanaryState.from_dict(doc)

    def save(self, state: CanaryState) -> None:
        text = json.dumps(state.to_dict(), indent=1, sort_keys=True)
        atomic_write(self.path(state.namespace, state.name), text)
