"""Run one rollout on the local platform: the library behind `progressive rollout`.

    spec = load_rollout_spec(Path("fixtures/specs/seed-canary.yaml"))      # exit 2 if invalid
    result = run_canary(spec, RolloutOptions(to_version="v2", rps=100, time_scale=0.1))
    result.promoted, result.verdict                                        # True, "promoted ..."

Called by progressive/commands/rollout.py (which only renders) and bench/bench_engine.py.

- The platform: the one running in `state_dir` (`progressive up`) is attached to and left
  running, with the workloads of the run; otherwise one is started for the run and stopped at
  the end, on an error, Ctrl-C or SIGTERM as well (a repeated signal waits for the teardown).
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
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
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
from progressive.errors import BehaviourFailed, EnvironmentFailed, UserError
from progressive.model.types import (
    ApplicationSpec,
    CanarySpec,
    Spec,
    Strategy,
    VirtualServiceSpec,
)
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

READY_TIMEOUT_S = 30.0  # a Croc Hunter process starts in ~1 s; generous for a busy 2-core box
LOAD_START_TIMEOUT_S = 60.0  # Locust's first request (Python + gevent start-up)
USERS_PER_RPS = 0.1  # 10 req/s per Locust user, at most MAX_USERS users
MAX_USERS = 50
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


@dataclass
class Traffic:
    """What the load saw: every request, and those that failed (status 0 or 5xx)."""

    requests: int = 0
    failed: int = 0
    failed_not_new: int = 0  # failed requests not answered by the new revision
    first_failure_of_new: float | None = None  # start time of the first failed new request
    last_answer_of_new: float | None = None  # completion time of the last new-version answer


@dataclass
class CanaryResult:
    spec: CanarySpec  # as run (time-scaled)
    phase: str  # Succeeded, Failed, or the idle phase when there was nothing to roll out
    to_version: str
    primary_version: str  # what the primary served before the new revision
    duration_s: float  # new revision on the target -> the run's last tick
    ticks: int  # from the tick that detected the new revision
    failed_checks: int
    events: list[dict]
    traffic: Traffic | None
    triggered_at: float = 0.0
    tick_cpu_s: list[float] = field(default_factory=list)  # engine thread CPU per tick
    nothing_to_do: bool = False

    @property
    def promoted(self) -> bool:
        return self.phase == Phase.SUCCEEDED.value or self.nothing_to_do

    @property
    def verdict(self) -> str:
        target, load = self.spec.target, self.traffic
        if self.nothing_to_do:
            return f"nothing to roll out: {self.spec.primary_name} already serves {self.to_version}"
        if self.promoted:
            extra = f", {load.requests:,} requests, {load.failed:,} failed" if load else ""
            return (f"promoted {target} to {self.to_version} in {self.duration_s:.1f} s "
                    f"({self.ticks} ticks, {self.failed_checks} failed checks{extra})")
        failed = [e for e in self.events if e["action"] == "check_failed"]
        rollback = [e for e in self.events if e["action"] == "rollback"]
        if failed:
            why = (f"{self.to_version} failed {self.failed_checks} checks "
                   f"({failed[-1]['message']})")
        elif rollback:
            why = f"{self.to_version}: {rollback[-1]['message'].removeprefix('rolling back: ')}"
        else:
            why = f"{self.to_version} ended {self.phase}"
        serving = f"primary kept serving {self.primary_version}"
        if load:
            serving += f" ({load.failed_not_new:,} failed requests)"
        return f"rolled back {target}: {why} in {self.duration_s:.1f} s; {serving}"


@dataclass
class ReleaseResult:
    app: ApplicationSpec  # as run (time-scaled)
    to_version: str
    reached: bool
    achieved_step: int | None
    duration_s: float
    error: str
    events: list[dict]
    traffic: Traffic | None

    @property
    def verdict(self) -> str:
        load = self.traffic
        extra = f" ({load.requests:,} requests, {load.failed:,} failed)" if load else ""
        if self.reached:
            last = self.app.steps[-1].name
            return (f"released {self.app.name} {self.to_version}: step {len(self.app.steps) - 1} "
                    f"({last}) reached in {self.duration_s:.1f} s{extra}")
        return (f"release of {self.app.name} {self.to_version} failed: {self.error}; rolled back "
                f"to step 0 ({self.app.steps[0].name}) in {self.duration_s:.1f} s{extra}")


# -- inputs ----------------------------------------------------------------------------------


def load_rollout_spec(path: Path) -> Spec:
    """The one document of `path`, validated (InvalidSpec / UserError: exit 2)."""
    from progressive.model.validate import load_spec

    return load_spec(path)


def canary_plan(spec: CanarySpec) -> list[tuple[str, int]]:
    """(phase, canaryWeight) after each tick of a healthy rollout, for a progress display."""
    return [(t.phase.value, t.canary_weight) for t in expected_ticks(spec)]


# -- the platform ----------------------------------------------------------------------------


@contextmanager
def local_platform(state_dir: Path, say: Say, namespace: str) -> Iterator[tuple[object, bool]]:
    """(platform, owned): attach to the platform of `state_dir`, or run one for the block.

    The run is judged on metrics of its own: a started platform begins with an empty TSDB, and
    an attached one forgets what it recorded for `namespace` before (an earlier rollout of the
    same canary, minutes ago, must not reach this one's checks)."""
    from progressive.platforms.local.platform import LocalPlatform

    state_dir = Path(state_dir)
    try:
        if LocalPlatform.is_running(state_dir):
            say(f"using the local platform running in {state_dir}")
            platform = LocalPlatform.attach(state_dir)
            platform.wait_for_metrics()  # at once, unless `progressive up` has just started it
            platform.clear_metrics(namespace)
            yield platform, False
            return
        if state_dir.exists():
            LocalPlatform(state_dir).down()  # leftovers of a crashed run: processes, workloads
        platform = LocalPlatform(state_dir)
        try:
            say(f"starting a local platform in {state_dir} for this run")
            platform.up()
            platform.wait_for_metrics()  # the first analysis checks need data
            yield platform, True
        finally:
            with _teardown_shielded():
                platform.down()
    except EnvironmentFailed as exc:
        exc.logs = exc.logs or str(state_dir.resolve() / "logs")
        raise


@contextmanager
def _teardown_shielded() -> Iterator[None]:
    """A second Ctrl-C / SIGTERM during teardown waits: every process must be stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def _load(platform, rps: float, host: str | None, state_dir: Path, say: Say):
    """Locust through the gateway for the block (None when rps is 0); its pids live under
    `state_dir` while it runs."""
    if rps <= 0:
        yield None
        return
    from load.traffic import LoadError, traffic

    users = max(1, min(MAX_USERS, math.ceil(rps * USERS_PER_RPS)))
    workdir = Path(tempfile.mkdtemp(prefix="load-", dir=state_dir))
    try:
        say(f"load: {rps:g} req/s ({users} users) through {platform.gateway_url}"
            + (f", Host {host}" if host else ""))
        with traffic(platform.gateway_url, rps=rps, users=users, host_header=host,
                     workdir=workdir) as run:
            try:
                run.wait_for_requests(1, timeout=LOAD_START_TIMEOUT_S)
            except (LoadError, TimeoutError) as exc:
                raise UserError(f"the load did not start (Locust): {exc}") from None
            yield run
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _summarise(run, new_version: str) -> Traffic | None:
    if run is None:
        return None
    from load.recording import is_failure

    out = Traffic()
    for r in run.records:
        out.requests += 1
        if r.version == new_version:
            out.last_answer_of_new = max(r.t, out.last_answer_of_new or r.t)
        if not is_failure(r.status):
            continue
        out.failed += 1
        if r.version != new_version:
            out.failed_not_new += 1
        else:  # records are in completion order; a slow failure may have started earlier
            out.first_failure_of_new = min(r.started, out.first_failure_of_new or r.started)
    return out


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
               say: Say = _noop) -> CanaryResult:
    """Roll `options.to_version` out on the target of `spec`; Succeeded or Failed."""
    options.check()
    if not options.to_version:
        raise UserError("--to VERSION is required for a Canary")
    spec = spec.scaled(options.time_scale) if options.time_scale != 1.0 else spec
    events = _ObservedEventLog(options.events_json, on_event)
    new = options.new_revision()
    if options.rps <= 0 and spec.analysis.metrics:
        say("no load (--rps 0): the metric checks see only what other clients send")
    with ExitStack() as stack:
        platform, _ = stack.enter_context(local_platform(options.state_dir, say, spec.namespace))
        workloads = platform.workloads(spec.namespace)
        engine = _engine(spec, platform, workloads, events, options.state_dir)
        if workloads.spec_hash(spec.target) is None:
            say(f"deploying {spec.target} {options.from_version}")
            workloads.deploy(spec.target, AppVersion(options.from_version),
                             replicas=options.replicas or 1)
        elif workloads.app(spec.target).version != options.from_version:
            say(f"{spec.target} already exists at {workloads.app(spec.target).version}; "
                "--from does not apply")
        state = _initialise(engine, workloads, spec)
        primary = workloads.app(spec.primary_name)
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
        host = spec.hosts[0] if spec.hosts else None
        run = stack.enter_context(_load(platform, options.rps, host, options.state_dir, say))
        if spec.analysis.strategy is Strategy.BLUE_GREEN:
            # Production traffic stays on blue until the switch: the analysis needs requests
            # on green's own address, which Flagger users send from a load-test webhook.
            stack.enter_context(_load(platform, options.rps * CANARY_LOAD_SHARE,
                                      f"{spec.canary_name}.{spec.namespace}", options.state_dir,
                                      say))
        say(f"deploying {new.version} on {spec.target}"
            + (f" (error rate {new.error_rate:g}, latency {new.latency_ms:g} ms)"
               if new.error_rate or new.latency_ms else ""))
        triggered = time.time()
        workloads.deploy(spec.target, new)
        ticks_before = len(engine.tick_cpu_s)
        try:
            state = engine.run_until_done()
        except RolloutTimeout as exc:
            raise BehaviourFailed(f"{spec.target} {new.version}: {exc}") from None
        duration = time.time() - triggered
    cpu = engine.tick_cpu_s
    return CanaryResult(spec, state.phase.value, new.version, primary.version, duration,
                        len(cpu) - ticks_before, state.failed_checks, events.records,
                        _summarise(run, new.version), triggered, cpu[ticks_before:])


class _MeteredEngine(Engine):
    """The engine, with the CPU time of its thread measured around every tick."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tick_cpu_s: list[float] = []

    def tick(self):
        cpu = time.thread_time()
        try:
            return super().tick()
        finally:
            self.tick_cpu_s.append(time.thread_time() - cpu)


def _engine(spec: CanarySpec, platform, workloads, events: EventLog,
            state_dir: Path) -> _MeteredEngine:
    store = FileStateStore(state_dir)
    if workloads.spec_hash(spec.primary_name) is None:
        store.path(spec.namespace, spec.name).unlink(missing_ok=True)  # state without a primary
    return _MeteredEngine(spec, platform.router(), platform.metrics(), workloads, RealClock(),
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
    with local_platform(options.state_dir, say, vs.namespace) as (platform, owned):
        deploy_destinations(platform, vs, versions)
        platform.router().apply_virtual_service(vs)
        gateway = platform.gateway_url
        if owned:
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
        platform, _ = stack.enter_context(local_platform(options.state_dir, say, app.namespace))
        workloads = platform.workloads(app.namespace)
        rel = ShipperRelease(app, platform.router(), workloads, RealClock(), events,
                             ready_timeout_s=max(app.interval_s, READY_TIMEOUT_S))
        say(f"deploying {rel.incumbent} {options.from_version} ({app.replicas} replicas) and "
            f"{rel.contender} {new.version} (0 replicas)")
        workloads.deploy(rel.incumbent, AppVersion(options.from_version), replicas=app.replicas)
        workloads.deploy(rel.contender, new, replicas=0)
        wait_until(lambda: workloads.is_ready(rel.incumbent).ready, timeout=READY_TIMEOUT_S,
                   what=f"the incumbent {rel.incumbent} to be ready")
        platform.router().reconcile(rel.as_canary)
        platform.router().set_routes(rel.as_canary, 100, 0)
        run = stack.enter_context(_load(platform, options.rps, None, options.state_dir, say))
        started = time.time()
        reached = rel.run()
        duration = time.time() - started
    return ReleaseResult(app, new.version, reached, rel.achieved_step, duration, rel.last_error,
                         events.records, _summarise(run, new.version))
