"""Run one rollout on the local platform: the library behind `progressive rollout`.

    spec = load_rollout_spec(Path("fixtures/specs/seed-canary.yaml"))      # exit 2 if invalid
    result = run_canary(spec, RolloutOptions(to_version="v2", rps=100, time_scale=0.1))
    result.promoted, result.verdict                                        # True, "promoted ..."

Called by progressive/commands/rollout.py (which only renders) and bench/bench_engine.py.
The verdicts are progressive/verdicts.py's; the load is progressive/load/rollout_load.py's.

- The platform: progressive/session.py's lifecycle (attached when `progressive up` runs one in
  `state_dir`, else started for the run and stopped at its end, whatever the end). A new
  rollout is judged on metrics of its own: what the platform recorded for its namespace before
  the trigger is forgotten (a resumed rollout keeps its analysis window).
- A Canary: the target is deployed at `from_version` unless it exists; the engine (RealClock,
  the spec time-scaled) initialises, then the new revision lands on the target and the engine
  runs until Succeeded or Failed, in the foreground. With `rps > 0`, Locust drives load through
  the gateway (Host header: the spec's first host) from before the new revision to the end.
- A VirtualService: one Croc Hunter per destination, named after its namespace; the routes
  are applied and described. A Shipper Application: ShipperRelease, one step per interval.

Every engine event goes to `on_event` (and, JSON lines, to `events_json` as it happens).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from progressive.clock import RealClock
from progressive.engine import (
    Engine,
    EventLog,
    FileStateStore,
    Phase,
    RolloutTimeout,
    expected_ticks,
)
from progressive.engine.bounds import progress_deadline_bound
from progressive.engine.shipper import ShipperRelease
from progressive.errors import BehaviourFailed, UserError
from progressive.load.rollout_load import drive, summarise
from progressive.model.types import (
    ApplicationSpec,
    CanarySpec,
    Spec,
    Strategy,
    VirtualServiceSpec,
)
from progressive.platforms.base import Platform
from progressive.session import platform_session
from progressive.verdicts import CanaryResult, ReleaseResult
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion, Workloads

READY_TIMEOUT_S = 30.0  # a Croc Hunter process starts in ~1 s; generous for a busy 2-core box
CANARY_LOAD_SHARE = 0.2  # blue-green: load on green's own address, as a share of --rps

OnEvent = Callable[[dict], None]
Say = Callable[[str], None]


@dataclass(frozen=True)
class RolloutOptions:
    to_version: str | None = None  # the new revision; required for a Canary / Application
    from_version: str = "v1"
    error_rate: float = 0.0  # fault knobs of the new revision
    latency_ms: float = 0.0
    rps: float = 0.0  # 0: no load
    time_scale: float = 1.0
    events_json: Path | None = None  # JSON lines, one engine event per line
    state_dir: Path = Path(".progressive")
    replicas: int | None = None  # of the target / application when the run creates it

    def check(self) -> None:
        problems = []
        if not 0.0 <= self.error_rate <= 1.0:
            problems.append(f"--error-rate must be between 0 and 1, got {self.error_rate:g}")
        if not (self.latency_ms >= 0 and math.isfinite(self.latency_ms)):
            problems.append(f"--latency-ms must be >= 0, got {self.latency_ms:g}")
        if not (self.rps >= 0 and math.isfinite(self.rps)):
            problems.append(f"--rps must be >= 0, got {self.rps:g}")
        if not (self.time_scale > 0 and math.isfinite(self.time_scale)):
            problems.append(f"--time-scale must be > 0, got {self.time_scale:g}")
        if self.replicas is not None and self.replicas < 1:
            problems.append(f"--replicas must be >= 1, got {self.replicas}")
        for flag, version in (("--to", self.to_version), ("--from", self.from_version)):
            if version is not None and not version.strip():
                problems.append(f"{flag} must name a version")
        if problems:
            raise UserError("; ".join(problems))

    def new_revision(self) -> AppVersion:
        return AppVersion(self.to_version or "", error_rate=self.error_rate,
                          latency_ms=self.latency_ms)


# -- inputs ----------------------------------------------------------------------------------


def load_rollout_spec(path: Path) -> Spec:
    """The one document of `path`, validated (InvalidSpec / UserError: exit 2)."""
    from progressive.model.validate import load_spec

    return load_spec(path)


def canary_plan(spec: CanarySpec) -> list[tuple[str, int]]:
    """(phase, canaryWeight) after each tick of a healthy rollout, for a progress display."""
    return [(t.phase.value, t.canary_weight) for t in expected_ticks(spec)]


class _ObservedEventLog(EventLog):
    """The engine's event log, also handed to a listener (the live progress view)."""

    def __init__(self, path: Path | None, listener: OnEvent | None):
        if path is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text("")  # this run's events only
            except OSError as exc:
                raise UserError(f"--events-json {path}: cannot write: {exc.strerror or exc}") from None
        super().__init__(path)
        self._listener = listener

    def record(self, t, state, action, message=""):
        rec = super().record(t, state, action, message)
        if self._listener is not None:
            self._listener(rec)
        return rec


def _noop(_: object) -> None:
    pass


# -- a Canary --------------------------------------------------------------------------------


def run_canary(spec: CanarySpec, options: RolloutOptions, *, on_event: OnEvent | None = None,
               say: Say = _noop, engine_class: type[Engine] = Engine) -> CanaryResult:
    """Roll `options.to_version` out on the target of `spec`; Succeeded or Failed.
    `engine_class`: the bundled Engine, or a subclass of it (a benchmark meters its ticks)."""
    options.check()
    if not options.to_version:
        raise UserError("--to VERSION is required for a Canary")
    spec = spec.scaled(options.time_scale) if options.time_scale != 1.0 else spec
    events = _ObservedEventLog(options.events_json, on_event)
    new = options.new_revision()
    if options.rps <= 0 and spec.analysis.metrics:
        say("no load (--rps 0): the metric checks see only what other clients send")
    with ExitStack() as stack:
        platform = stack.enter_context(_session(options, say)).platform
        workloads = platform.workloads(spec.namespace)
        engine = _engine(spec, platform, workloads, events, options.state_dir, engine_class)
        existing = workloads.app(spec.target)
        if existing is None:
            say(f"deploying {spec.target} {options.from_version}")
            workloads.deploy(spec.target, AppVersion(options.from_version),
                             replicas=options.replicas or 1)
        elif existing.version != options.from_version:
            say(f"{spec.target} already exists at {existing.version}; --from does not apply")
        state = _initialise(engine, workloads, spec)
        primary = workloads.app(spec.primary_name)
        if primary is None:
            raise UserError(f"{spec.primary_name} was not created: {state.message}")
        if workloads.spec_hash(spec.primary_name) == new.spec_hash():
            workloads.deploy(spec.target, new)  # a revert to what is live: the engine notes it
            state = engine.tick()
            return CanaryResult(spec, state.phase.value, new.version, primary.version, 0.0, 0,
                                0, events.records, None, nothing_to_do=True)
        if state.phase not in (Phase.PROGRESSING, Phase.WAITING_PROMOTION) and \
                new.spec_hash() == state.last_applied_spec:
            raise UserError(f"{spec.target} already ran {new.version} with these knobs and its "
                            f"rollout ended {state.phase.value}; change the version or a knob "
                            "to start a new one")
        host = platform.gateway_host(spec)
        run = stack.enter_context(drive(platform.gateway_url, options.rps, host,
                                        options.state_dir, say))
        if spec.analysis.strategy is Strategy.BLUE_GREEN:
            # Production traffic stays on blue until the switch: the analysis needs requests
            # on green's own address, which Flagger users send from a load-test webhook.
            stack.enter_context(drive(platform.gateway_url, options.rps * CANARY_LOAD_SHARE,
                                      f"{spec.canary_name}.{spec.namespace}", options.state_dir,
                                      say))
        say(f"deploying {new.version} on {spec.target}"
            + (f" (error rate {new.error_rate:g}, latency {new.latency_ms:g} ms)"
               if new.error_rate or new.latency_ms else ""))
        if state.phase not in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
            # A new rollout is judged on its own requests only; a resumed one keeps its window.
            platform.clear_metrics(spec.namespace)
        triggered = time.time()
        workloads.deploy(spec.target, new)
        try:
            state = engine.run_until_done()
        except RolloutTimeout as exc:
            raise BehaviourFailed(f"{spec.target} {new.version}: {exc}") from None
        duration = time.time() - triggered
    ticks = sum(1 for e in events.records if e["action"] == "tick" and e["t"] >= triggered)
    return CanaryResult(spec, state.phase.value, new.version, primary.version, duration, ticks,
                        state.failed_checks, events.records, summarise(run, new.version),
                        triggered)


def serve(spec: CanarySpec, platform: Platform, state_dir: Path, version: str = "v1",
          replicas: int = 1) -> str:
    """`progressive up`'s app: the Canary's target at `version` (unless it exists), initialised
    by the bundled engine (its primary serves 100% through the gateway), saved in `state_dir`
    as `run_canary` leaves it, so that a `rollout` of the same spec rolls the served app.
    Returns the engine's message."""
    workloads = platform.workloads(spec.namespace)
    engine = _engine(spec, platform, workloads, EventLog(), state_dir, Engine)
    if workloads.app(spec.target) is None:
        workloads.deploy(spec.target, AppVersion(version), replicas=replicas)
    state = _initialise(engine, workloads, spec)
    if workloads.app(spec.primary_name) is None:
        raise UserError(f"{spec.primary_name} was not created: {state.message}")
    return state.message


def _session(options: RolloutOptions, say: Say):
    return platform_session("local", options.state_dir, say=say)


def _engine(spec: CanarySpec, platform: Platform, workloads: Workloads, events: EventLog,
            state_dir: Path, engine_class: type[Engine]) -> Engine:
    store = FileStateStore(state_dir)
    if workloads.spec_hash(spec.primary_name) is None:
        store.path(spec.namespace, spec.name).unlink(missing_ok=True)  # state without a primary
    return engine_class(spec, platform.router(), platform.metrics(), workloads, RealClock(),
                        store, events)


def _initialise(engine: Engine, workloads, spec: CanarySpec):
    """Tick until the engine has a primary and a route. A state saved past initialisation (a
    run resumed after the engine was stopped) is returned without a tick: the next tick is
    run_until_done's, one interval after the last saved one."""
    saved = engine.store.load(spec.namespace, spec.name)
    if saved is not None and saved.phase is not Phase.INITIALIZING \
            and workloads.spec_hash(spec.primary_name) is not None:
        return saved
    bound = max(READY_TIMEOUT_S, progress_deadline_bound(spec))
    deadline = time.monotonic() + bound
    state = engine.tick()
    while state.phase is Phase.INITIALIZING:
        if time.monotonic() > deadline:
            raise UserError(f"{spec.primary_name} did not become ready within {bound:.0f}s: "
                            f"{state.message}")
        try:
            wait_until(lambda: workloads.is_ready(spec.primary_name).ready,
                       timeout=max(0.1, deadline - time.monotonic()),
                       what=f"{spec.primary_name} to be ready")
        except TimeoutError:
            pass  # the next tick reports why
        state = engine.tick()
    return state


# -- a VirtualService ------------------------------------------------------------------------


def apply_virtual_service(vs: VirtualServiceSpec, options: RolloutOptions,
                          say: Say = _noop) -> list[str]:
    """One Croc Hunter per destination, the routes applied; returns them, one line each."""
    from progressive.preview import deploy_destinations, destination_versions

    options.check()
    for warning in vs.warnings:
        say(f"warning: {warning}")
    versions = destination_versions(vs, {})
    with _session(options, say) as session:
        platform = session.platform
        deploy_destinations(platform, vs, versions)
        platform.router().apply_virtual_service(vs)
        gateway = platform.gateway_url
        if session.owned:
            say("the platform stops with this command (`progressive up` first keeps it)")
    lines = [f"{vs.namespace}/{vs.name} on {gateway}, hosts {', '.join(vs.hosts)}"]
    for i, route in enumerate(vs.http):
        when = "every request" if not route.match else f"{len(route.match)} match(es)"
        lines.append(f"route {i} ({route.name or 'unnamed'}, {when}):")
        total = sum(d.weight for d in route.route) or 1
        for d in route.route:
            lines.append(f"  {d.weight:>3} ({d.weight / total:.1%})  {d.host}  "
                         f"-> version {versions.get(d.host, '?')}")
        if route.mirror is not None:
            lines.append(f"  mirror {route.mirror_percent:g}%  {route.mirror.host}")
    return lines


# -- a Shipper Application -------------------------------------------------------------------


def release_application(app: ApplicationSpec, options: RolloutOptions, *,
                        on_event: OnEvent | None = None, say: Say = _noop) -> ReleaseResult:
    """Incumbent at `from_version`, contender at `to_version`; one step per interval."""
    from dataclasses import replace

    options.check()
    if not options.to_version:
        raise UserError("--to VERSION is required for an Application")
    app = replace(app, interval_s=app.interval_s * options.time_scale,
                  replicas=options.replicas or app.replicas)
    events = _ObservedEventLog(options.events_json, on_event)
    new = options.new_revision()
    with ExitStack() as stack:
        platform = stack.enter_context(_session(options, say)).platform
        rel = ShipperRelease(app, platform.router(), platform.workloads(app.namespace),
                             RealClock(), events,
                             ready_timeout_s=max(app.interval_s, READY_TIMEOUT_S))
        say(f"deploying {rel.incumbent} {options.from_version} ({app.replicas} replicas) and "
            f"{rel.contender} {new.version} (0 replicas)")
        rel.begin(AppVersion(options.from_version), new)
        run = stack.enter_context(drive(platform.gateway_url, options.rps, None,
                                        options.state_dir, say))
        started = time.time()
        reached = rel.run()
        duration = time.time() - started
    return ReleaseResult(app, new.version, reached, rel.achieved_step, duration, rel.last_error,
                         events.records, summarise(run, new.version))
