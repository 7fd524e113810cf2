"""Load shapes: how many Locust users run at time t of a run (constant, step, spike).

Pacing is per user (`progressive/load/locustfile.py`: each user runs at PROGRESSIVE_RPS / PROGRESSIVE_USERS
requests per second), so a shape that changes the number of users changes the request rate in
proportion: `rps` is the total rate at `users` users, a spike to 3x the users is 3x the rate.

| shape | environment (set by `progressive.load.traffic` from the dataclass) | users at time t |
|---|---|---|
| constant | PROGRESSIVE_USERS | `users` |
| step | PROGRESSIVE_STEP_USERS, PROGRESSIVE_STEP_S, PROGRESSIVE_USERS | `step_users` more every `step_s`, capped at `users` |
| spike | PROGRESSIVE_USERS, PROGRESSIVE_SPIKE_USERS, PROGRESSIVE_SPIKE_AT_S, PROGRESSIVE_SPIKE_S | `spike_users` in [at_s, at_s + spike_s), `users` otherwise |

PROGRESSIVE_SHAPE names the shape; PROGRESSIVE_DURATION_S (optional) ends the run (Locust's
`-t` is ignored when a shape is active). The schedules are plain dataclasses so that they can
be tested without importing Locust (importing it patches the process with gevent); only
`locust_shape_class`, called by the locustfile, imports it. Locust uses any LoadTestShape it
finds in the locustfile, so the locustfile binds one only when PROGRESSIVE_SHAPE is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ConstantShape:
    users: int

    name = "constant"

    def users_at(self, t: float) -> int:
        return self.users

    def to_env(self) -> dict[str, str]:
        return {"PROGRESSIVE_SHAPE": self.name, "PROGRESSIVE_USERS": str(self.users)}


@dataclass(frozen=True)
class StepShape:
    step_users: int
    step_s: float
    users: int

    name = "step"

    def __post_init__(self) -> None:
        if self.step_users < 1 or self.step_s <= 0 or self.users < 1:
            raise ValueError(f"step shape needs step_users >= 1, step_s > 0, users >= 1: {self}")

    def users_at(self, t: float) -> int:
        return min(self.users, self.step_users * (1 + math.floor(t / self.step_s)))

    def to_env(self) -> dict[str, str]:
        return {
            "PROGRESSIVE_SHAPE": self.name,
            "PROGRESSIVE_USERS": str(self.users),
            "PROGRESSIVE_STEP_USERS": str(self.step_users),
            "PROGRESSIVE_STEP_S": str(self.step_s),
        }


@dataclass(frozen=True)
class SpikeShape:
    users: int
    spike_users: int
    at_s: float
    spike_s: float

    name = "spike"

    def users_at(self, t: float) -> int:
        return self.spike_users if self.at_s <= t < self.at_s + self.spike_s else self.users

    def to_env(self) -> dict[str, str]:
        return {
            "PROGRESSIVE_SHAPE": self.name,
            "PROGRESSIVE_USERS": str(self.users),
            "PROGRESSIVE_SPIKE_USERS": str(self.spike_users),
            "PROGRESSIVE_SPIKE_AT_S": str(self.at_s),
            "PROGRESSIVE_SPIKE_S": str(self.spike_s),
        }


Shape = ConstantShape | StepShape | SpikeShape


def shape_from_env(env: Mapping[str, str]) -> Shape | None:
    """The shape PROGRESSIVE_SHAPE names, with its parameters; None when unset."""
    name = env.get("PROGRESSIVE_SHAPE", "")
    if not name:
        return None
    users = int(env.get("PROGRESSIVE_USERS", "1"))
    if name == "constant":
        return ConstantShape(users)
    if name == "step":
        return StepShape(
            step_users=int(env.get("PROGRESSIVE_STEP_USERS", str(max(1, users // 5)))),
            step_s=float(env.get("PROGRESSIVE_STEP_S", "5")),
            users=users,
        )
    if name == "spike":
        return SpikeShape(
            users=users,
            spike_users=int(env.get("PROGRESSIVE_SPIKE_USERS", str(3 * users))),
            at_s=float(env.get("PROGRESSIVE_SPIKE_AT_S", "5")),
            spike_s=float(env.get("PROGRESSIVE_SPIKE_S", "5")),
        )
    raise ValueError(f"PROGRESSIVE_SHAPE={name!r}: unknown shape (constant, step or spike)")


def tick(shape: Shape, t: float, duration_s: float | None) -> tuple[int, float] | None:
    """Locust's tick: (users, spawn rate) at run time t, None once the duration is over.

    The spawn rate is ten times the target so that a step lands within ~0.1 s.
    """
    if duration_s is not None and t >= duration_s:
        return None
    users = shape.users_at(t)
    return users, float(max(1, users) * 10)


def locust_shape_class(env: Mapping[str, str]) -> type:
    """A LoadTestShape subclass running the shape from `env` (imports locust: Locust side only)."""
    from locust import LoadTestShape

    shape = shape_from_env(env)
    if shape is None:
        raise ValueError("PROGRESSIVE_SHAPE is not set")
    duration = float(env["PROGRESSIVE_DURATION_S"]) if env.get("PROGRESSIVE_DURATION_S") else None

    class ProgressiveShape(LoadTestShape):
        def tick(self):
            return tick(shape, self.get_run_time(), duration)

    ProgressiveShape.__name__ = ProgressiveShape.__qualname__ = f"{shape.name.title()}Shape"
    return ProgressiveShape
