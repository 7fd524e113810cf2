"""Fakes at the engine's seams (Router, MetricsProvider, Workloads, webhooks) and a rig that
wires them to an Engine with a FakeClock, so a test steps the loop one tick at a time.

Nothing here sleeps, starts a process or opens a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from progressive.clock import FakeClock
from progressive.engine import Engine, EventLog, MemoryStateStore
from progressive.engine.state import CanaryState
from progressive.metrics.base import NoValues
from progressive.model.types import (
    Analysis,
    CanarySpec,
    HookType,
    MetricCheck,
    MetricKind,
    Webhook,
)
from progressive.routing.base import RouterError, Routes
from progressive.workloads.base import AppVersion, Readiness

TARGET = "croc-hunter"
PRIMARY = "croc-hunter-primary"
CANARY = "croc-hunter-canary"

SUCCESS_RATE = MetricCheck("request-success-rate", MetricKind.REQUEST_SUCCESS_RATE, min=99)
DURATION = MetricCheck("request-duration", MetricKind.REQUEST_DURATION, max=500)


def make_spec(*, interval_s: float = 15.0, progress_deadline_s: float = 600.0,
              skip_analysis: bool = False, **analysis) -> CanarySpec:
    analysis.setdefault("metrics", (SUCCESS_RATE, DURATION))
    analysis.setdefault("threshold", 5)
    return CanarySpec(
        name="croc-hunter",
        namespace="jx-production",
        target=TARGET,
        analysis=Analysis(interval_s=interval_s, **analysis),
        progress_deadline_s=progress_deadline_s,
        skip_analysis=skip_analysis,
    )


def seed_spec() -> CanarySpec:
    """The seed's canary: interval 15s, threshold 5, maxWeight 50, stepWeight 10."""
    return make_spec(threshold=5, max_weight=50, step_weight=10)


def hook(name: str, kind: HookType) -> Webhook:
    return Webhook(name=name, type=kind, url=f"http://127.0.0.1:9/{name}")


class FakeRouter:
    """Keeps the live routes; records every call in order."""

    def __init__(self) -> None:
        self.routes: Routes | None = None
        self.calls: list[tuple] = []
        self.fail_next: int = 0  # number of next set_routes/get_routes calls that raise

    def _maybe_fail(self, what: str) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RouterError(f"{what}: gateway refused the update")

    def reconcile(self, canary) -> None:
        self.calls.append(("reconcile",))
        if self.routes is None:
            self.routes = Routes(100, 0, False)

    def set_routes(self, canary, primary_weight, canary_weight, mirrored=False) -> None:
        self._maybe_fail("set_routes")
        assert primary_weight + canary_weight == 100, (primary_weight, canary_weight)
        self.calls.append(("set_routes", primary_weight, canary_weight, mirrored))
        self.routes = Routes(primary_weight, canary_weight, mirrored)

    def get_routes(self, canary) -> Routes:
        self._maybe_fail("get_routes")
        assert self.routes is not None, "get_routes before the route exists"
        return self.routes

    def finalize(self, canary) -> None:
        self.calls.append(("finalize",))

    def set_calls(self) -> list[tuple]:
        return [c[1:] for c in self.calls if c[0] == "set_routes"]


class FakeMetrics:
    """Answers per query text (the rig's query_for returns the check's name).

    A script is a value, or a list consumed one per query (the last entry repeats); an entry
    that is an exception instance is raised.
    """

    def __init__(self, **scripts) -> None:
        self.scripts: dict[str, object] = {"request-success-rate": 99.9, "request-duration": 120.0}
        self.scripts.update({k.replace("_", "-"): v for k, v in scripts.items()})
        self.queries: list[str] = []

    def set(self, name: str, script) -> None:
        self.scripts[name] = script

    def run_query(self, promql: str) -> float:
        self.queries.append(promql)
        script = self.scripts.get(promql, NoValues(promql))
        if isinstance(script, list):
            value = script.pop(0) if len(script) > 1 else script[0]
        elif callable(script):
            value = script()
        else:
            value = script
        if isinstance(value, BaseException):
            raise value
        return float(value)

    def is_online(self) -> bool:
        return True


@dataclass
class FakeWorkload:
    app: AppVersion
    replicas: int


class FakeWorkloads:
    """Workloads as a dict; readiness is scripted per name (default: ready when replicas > 0)."""

    def __init__(self) -> None:
        self.items: dict[str, FakeWorkload] = {}
        self.readiness: dict[str, Callable[[], Readiness] | Readiness] = {}
        self.calls: list[tuple] = []

    def deploy(self, name: str, app: AppVersion, replicas: int | None = None) -> None:
        self.calls.append(("deploy", name, app.version, replicas))
        old = self.items.get(name)
        keep = old.replicas if old else 1
        self.items[name] = FakeWorkload(app, keep if replicas is None else replicas)

    def scale(self, name: str, replicas: int) -> None:
        self.calls.append(("scale", name, replicas))
        if name not in self.items:
            raise KeyError(name)
        self.items[name].replicas = replicas

    def is_ready(self, name: str) -> Readiness:
        scripted = self.readiness.get(name)
        if scripted is not None:
            return scripted() if callable(scripted) else scripted
        item = self.items.get(name)
        if item is None:
            return Readiness(False, True, f"{name} does not exist")
        if item.replicas == 0:
            return Readiness(False, True, f"{name} is scaled to zero")
        return Readiness(True, True, f"{item.replicas}/{item.replicas} replicas ready")

    def spec_hash(self, name: str) -> str | None:
        item = self.items.get(name)
        return item.app.spec_hash() if item else None

    def app(self, name: str) -> AppVersion | None:
        item = self.items.get(name)
        return item.app if item else None

    def replicas(self, name: str) -> int:
        item = self.items.get(name)
        return item.replicas if item else 0

    def version(self, name: str) -> str | None:
        item = self.items.get(name)
        return item.app.version if item else None


@dataclass(frozen=True)
class HookAnswer:
    ok: bool
    status: int | None
    error: str = ""


class FakeHooks:
    """Answers per hook name: a bool, an HTTP status, or a list of those consumed per call."""

    def __init__(self) -> None:
        self.answers: dict[str, object] = {}
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, hook: Webhook, payload: dict) -> HookAnswer:
        self.calls.append((hook.name, payload))
        script = self.answers.get(hook.name, 200)
        if isinstance(script, list):
            answer = script.pop(0) if len(script) > 1 else script[0]
        else:
            answer = script
        if isinstance(answer, BaseException):
            raise answer
        status = answer if isinstance(answer, int) and not isinstance(answer, bool) else (
            200 if answer else 500)
        return HookAnswer(status <= 202, status, "" if status <= 202 else "refused")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclass
class Rig:
    """An Engine on fakes. `step()` is one tick, then the clock advances one interval."""

    spec: CanarySpec
    clock: FakeClock = field(default_factory=FakeClock)
    router: FakeRouter = field(default_factory=FakeRouter)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)
    workloads: FakeWorkloads = field(default_factory=FakeWorkloads)
    hooks: FakeHooks = field(default_factory=FakeHooks)
    store: MemoryStateStore = field(default_factory=MemoryStateStore)
    events: EventLog = field(default_factory=EventLog)
    engine: Engine | None = None
    history: list[CanaryState] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.engine is None:
            self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        return Engine(self.spec, self.router, self.metrics, self.workloads, self.clock,
                      self.store, self.events, hooks=self.hooks,
                      query_for=lambda check, ns, target: check.name)

    def step(self) -> CanaryState:
        state = self.engine.tick()
        self.history.append(state)
        self.clock.sleep(self.spec.analysis.interval_s)
        return state

    def steps(self, n: int) -> list[CanaryState]:
        return [self.step() for _ in range(n)]

    def until(self, done: Callable[[CanaryState], bool], limit: int = 200) -> list[CanaryState]:
        out = []
        for _ in range(limit):
            out.append(self.step())
            if done(out[-1]):
                return out
        raise AssertionError(f"not done after {limit} ticks: {out[-1]}")

    def deploy(self, version: str, **knobs) -> AppVersion:
        """What a user does: put a new revision on the target (it runs no replicas)."""
        app = AppVersion(version, **knobs)
        self.workloads.deploy(TARGET, app, replicas=self.workloads.replicas(TARGET))
        return app

    def actions_per_tick(self) -> list[list[str]]:
        """The events of each tick (without the closing `tick` record), oldest first."""
        out: list[list[str]] = []
        current: list[str] = []
        for rec in self.events.records:
            if rec["action"] == "tick":
                out.append(current)
                current = []
            else:
                current.append(rec["action"])
        return out

    def rollout(self, version: str = "v2", limit: int = 200, **knobs) -> list[CanaryState]:
        """Deploy `version` and tick until the rollout ends; the states from detection on."""
        self.deploy(version, **knobs)
        return self.until(lambda s: s.phase.value in ("Succeeded", "Failed"), limit)

    def initialised(self, version: str = "v1", replicas: int = 3) -> Rig:
        self.workloads.deploy(TARGET, AppVersion(version), replicas=replicas)
        self.step()
        return self


def new_rig(spec: CanarySpec | None = None, **spec_kwargs) -> Rig:
    return Rig(spec if spec is not None else make_spec(**spec_kwargs))


def trail(states: list[CanaryState]) -> list[tuple[str, int]]:
    return [(s.phase.value, s.canary_weight) for s in states]


def with_hooks(spec: CanarySpec, *hooks: Webhook) -> CanarySpec:
    return replace(spec, analysis=replace(spec.analysis, webhooks=tuple(hooks)))
