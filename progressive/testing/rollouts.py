"""Given / When / Then steps of a rollout under load (the fixtures are in fixtures.py).

The suites are black-box: they set a spec on the engine under test, deploy revisions, and
observe the router's live weights (`platform.router().get_routes`), the traffic on the wire
(Locust records) and the engine's reported status and events. Every time bound comes from the
spec and the time scale through one SuiteTimeouts (timeouts.py); nothing sleeps for a fixed time.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import allure

from progressive.engines.base import EngineUnderTest
from progressive.load.recording import Records, failure_count, version_counts
from progressive.load.timeline import StepShare, WeightTimeline, join, observed_sequence
from progressive.load.traffic import traffic
from progressive.model import load_specs
from progressive.model.types import CanarySpec
from progressive.platforms.base import Platform
from progressive.resources import packaged
from progressive.stats import DEFAULT_ALPHA
from progressive.testing.status_timeline import StatusChange, StatusTimeline, failure_counts
from progressive.testing.timeouts import SuiteTimeouts
from progressive.workloads.base import AppVersion

FIXTURES = packaged("fixtures") / "specs"
LOAD_RPS = 150  # enough requests per step for the share test, light enough for 2 cores
LOAD_USERS = 15
AFTER_END_REQUESTS = 100  # traffic recorded after the rollout ended (the after-promotion check)


def load_spec(name: str, namespace: str, **changes):
    """A fixture spec moved into the test's own namespace (plus any field changes)."""
    (spec,) = load_specs(FIXTURES / name)
    spec = dataclasses.replace(spec, namespace=namespace, **changes)
    return spec


def attach_json(name: str, body) -> None:
    """Attach `body` as JSON to the running test's Allure result."""
    allure.attach(json.dumps(body, indent=1, default=str), name=name,
                  attachment_type=allure.attachment_type.JSON)


class Observation:
    """What a rollout under load looked like from outside."""

    def __init__(self, spec: CanarySpec, timeline: WeightTimeline, run, status, events,
                 done_at: float | None = None, statuses: list[StatusChange] | None = None,
                 initial: AppVersion | None = None, release: AppVersion | None = None):
        self.spec = spec
        self.initial = initial  # what ran before the rollout
        self.release = release  # what was rolled out
        self.timeline = timeline
        self.run = run
        self.status = status
        self.events = events  # the engine's own log: {t, action, message, ...}; wording varies
        self.done_at = done_at  # when the engine reported the rollout done (unix time)
        self.statuses = statuses or []  # the reported status, each change (status_timeline.py)
        self.timeouts = SuiteTimeouts.of(spec)

    @property
    def records(self):
        return self.run.records

    def weights_seen(self) -> list[int]:
        """The canary weights the router held, in order, each change once."""
        return observed_sequence(self.timeline)

    def phases(self) -> list[str]:
        """The reported phases, in order, each change once."""
        seen = [c.phase for c in self.statuses]
        return [p for i, p in enumerate(seen) if i == 0 or seen[i - 1] != p]

    def step_shares(self, canary_version: str | None = None, alpha: float = DEFAULT_ALPHA,
                    until: float | None = None) -> list[StepShare]:
        """Per weight step: requests seen, the canary's share and its acceptance interval at
        false-alarm probability `alpha` (requests completed before `until`). The canary is
        the rolled-out release unless `canary_version` says otherwise."""
        version = canary_version or (self.release.version if self.release else None)
        assert version, "which version is the canary's? pass canary_version"
        records = self.records if until is None else self.records.between(0.0, until)
        return join(self.timeline, records, canary_version=version,
                    guard_s=self.timeouts.route_update_s, alpha=alpha)

    def promotion_started(self) -> float:
        """Until then only the canary runs the new version; the promotion then rolls it out to
        the primary. The status turns Promoting in the tick that promotes (after the engine
        asked for the primary's new revision, which takes a readiness probe to serve): the
        last poll before that is the bound. An engine that logs its ticks (the bundled one)
        gives an earlier one, the start of that tick."""
        promoting = next((c for c in self.statuses
                          if c.phase in ("Promoting", "Finalising", "Succeeded")), None)
        assert promoting is not None, f"the status never showed a promotion:\n{self.explain()}"
        bound = promoting.not_before
        promote_t = next((e["t"] for e in self.events if e["action"] == "promote"), None)
        ticks = [e["t"] for e in self.events if e["action"] == "tick"
                 and promote_t is not None and e["t"] < promote_t]
        if ticks:
            bound = min(bound, min(e["t"] for e in self.events
                                   if max(ticks) < e["t"] <= promote_t))
        return bound

    def failure_counted(self) -> list[StatusChange]:
        """Each status change that raised failedChecks (the reported count)."""
        return failure_counts(self.statuses)

    def ended(self) -> StatusChange:
        """The status change to the final phase (Succeeded or Failed)."""
        done = next((c for c in self.statuses if c.phase == self.status.phase), None)
        assert done is not None, f"no {self.status.phase} status was seen"
        return done

    def explain(self, last: int = 8) -> str:
        """The engine's recent story (status changes and its events), for assertion messages.
        Its first line says how the rollout ended: a report that keeps one line keeps that."""
        s = self.status
        lines = [(c.t, f"status {c.phase:<16} w={c.canary_weight:<3} failed={c.failed_checks} "
                       f"it={c.iterations}") for c in self.statuses]
        lines += [(e["t"], f"event  {e['action']}: {e['message']}") for e in self.events
                  if e["action"] != "tick"]
        story = [text for _, text in sorted(lines)[-2 * last:]]
        return "\n".join([f"ended {s.phase} (weights {self.weights_seen()}, failed checks "
                          f"{s.failed_checks})", *story])

    def failures(self) -> int:
        return failure_count(self.records)

    def versions(self) -> dict[str, int]:
        return version_counts(self.records)


def holds(condition, duration: float, what: str, poll: float) -> None:
    """Assert `condition()` stays true for `duration` seconds (a stability check, e.g. a halt),
    checked every `poll` seconds (SuiteTimeouts.poll_s).

    Not a sleep standing in for a condition: the test fails at the first poll that breaks it.
    """
    end = time.monotonic() + duration
    while time.monotonic() < end:
        assert condition(), f"{what} stopped holding"
        time.sleep(poll)


def with_analysis(spec: CanarySpec, **changes) -> CanarySpec:
    """`spec` with fields of its analysis changed (e.g. max_weight=20, iterations=5)."""
    return dataclasses.replace(spec, analysis=dataclasses.replace(spec.analysis, **changes))


def with_webhooks(spec: CanarySpec, *hooks, threshold: int | None = None) -> CanarySpec:
    changes: dict[str, object] = {"webhooks": tuple(hooks)}
    if threshold is not None:
        changes["threshold"] = threshold
    return with_analysis(spec, **changes)


class NoLoad:
    """The load of a rollout observed with no traffic at all (`rps=0`): no records."""

    def __init__(self) -> None:
        self.records = Records()

    def wait_for_requests(self, n: int, timeout: float) -> None:
        raise AssertionError("no load: no request will come")

    def __enter__(self) -> NoLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def observe_rollout(platform: Platform, engine: EngineUnderTest, spec: CanarySpec,
                    initial: AppVersion, new: AppVersion, *, rps: float = LOAD_RPS,
                    host: str | None = None, during=None) -> Observation:
    """Given `spec` at `initial`, when `new` is deployed under load, observe the rollout.

    `rps=0` observes a rollout no request reaches (Observation.records is empty).
    `during(engine, timeline)` runs right after the trigger, while the rollout goes on (open a
    gate, kill a process). Waits end within the SuiteTimeouts of the spec as the engine runs it.
    """
    engine.apply(spec, initial)
    router = platform.router()
    scaled = engine.spec
    assert scaled is not None, "apply() sets the spec the engine runs"
    t = SuiteTimeouts.of(scaled)
    host = host or platform.gateway_host(spec)
    timeline = load = None
    try:
        with ExitStack() as stack:
            timeline = stack.enter_context(WeightTimeline(lambda: router.get_routes(scaled)))
            statuses = stack.enter_context(StatusTimeline(engine.status))
            load = stack.enter_context(
                traffic(platform.gateway_url, rps=rps, users=LOAD_USERS, host_header=host)
            ) if rps > 0 else NoLoad()
            if rps > 0:
                load.wait_for_requests(10, timeout=t.requests_s(10, rps))
            engine.trigger(new)
            if during is not None:
                during(engine, timeline)
            status = engine.wait_done(timeout=t.rollout_s)
            done_at = time.time()  # the records' clock
            if rps > 0:
                load.wait_for_requests(len(load.records) + AFTER_END_REQUESTS,
                                       timeout=t.requests_s(AFTER_END_REQUESTS, rps))
    finally:  # a rollout that failed or timed out is plotted too: then it matters most
        if timeline is not None and load is not None:
            attach_plots(timeline, load.records, new.version, t.route_update_s)
    obs = Observation(scaled, timeline, load, status, engine.events(), done_at,
                      statuses.changes(), initial, new)
    attach_json("events", obs.events)
    attach_json("status changes", [dataclasses.asdict(c) for c in obs.statuses])
    attach_json("weights seen", obs.weights_seen())
    return obs


def attach_plots(timeline: WeightTimeline, records, canary_version: str,
                 guard_s: float) -> None:
    """The rollout's plots on the Allure result (progressive.reports.plots): the weight
    timeline with each step's share over it, the share per step, the failed requests over
    time. A plot that cannot be drawn is reported as a text attachment, never as the verdict."""
    from progressive.reports.plots import attach_rollout_plots

    try:
        attach_rollout_plots(timeline, records, canary_version,
                             join(timeline, records, canary_version=canary_version,
                                  guard_s=guard_s))
    except Exception as exc:  # noqa: BLE001 - the plots illustrate; the assertions judge
        allure.attach(f"{exc!r}", name="plots not drawn", attachment_type=allure.attachment_type.TEXT)


@contextmanager
def engine_session(platform: Platform, engine_name: str, work_dir: Path,
                   time_scale: float) -> Iterator[EngineUnderTest]:
    """An engine under test whose rollouts' routes and workloads are removed afterwards."""
    from progressive.engines import make_engine

    engine = make_engine(engine_name, platform, work_dir, time_scale=time_scale)
    try:
        yield engine
    finally:
        engine.close()  # stop the controller before its routes and workloads go
        spec = engine.spec
        if spec is not None:
            for step in (lambda: platform.router().finalize(spec),
                         lambda: platform.workloads(spec.namespace).stop_all()):
                try:
                    step()
                except Exception:  # noqa: BLE001 - cleanup is best effort, the verdict stands
                    pass
