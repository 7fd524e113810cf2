"""Every time bound of the conformance suites, in one object (Gateway API's TimeoutConfig).

    t = SuiteTimeouts.of(engine.spec)         # the spec as the engine runs it (time-scaled)
    status = engine.wait_done(timeout=t.rollout_s)
    run.wait_for_requests(100, timeout=t.requests_s(100, LOAD_RPS))

DESIGN.md principle 4, the spec is the clock: each bound comes from what it waits for, either
the engine's ticks (the spec's interval, threshold, progress deadline and hook timeouts, already
multiplied by the time scale) or a number of requests at the load's rate. What no spec paces
(a process starting on a loaded 2-core machine, a route change reaching the data plane) is a
named allowance here and nowhere else, and does not move with the time scale.
Used by rollouts.py and the suite modules; tests/suites/test_suite_timeouts.py
shows which bounds move with the time scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from progressive.engine.bounds import run_bound
from progressive.model.types import ApplicationSpec, CanarySpec

MACHINE_ALLOWANCE_S = 30.0  # the bound the suites have always given Locust to start
ROUTE_UPDATE_S = 0.25
POLLS_PER_INTERVAL = 10


@dataclass(frozen=True)
class SuiteTimeouts:
    """The suites' bounds for one spec at one time scale; build it with `of` or `of_release`."""

    interval_s: float
    """One analysis interval. The engine acts once per tick, so a state one tick leads to is
    there at the latest one interval later."""

    rollout_s: float
    """A whole rollout, bounded as the engine bounds itself (`engine.bounds.run_bound`: the
    healthy ticks, `threshold` failed ones, and a progress deadline each for the canary and the
    primary to become ready). Any state a rollout passes through is reached within it."""

    hooks_s: float
    """The spec's webhook timeouts added up: a tick calls its hooks one after another and may
    wait this long for their answers before it acts on them (0 without hooks)."""

    machine_s: float = MACHINE_ALLOWANCE_S
    """What a loaded 2-core machine may add to a wait that no spec paces: a process or a server
    thread starting (Locust imports gevent: seconds when idle, many more beside a benchmark;
    aiohttp binding its socket) or stopping, a load generator stalled behind other processes,
    one request on loopback. The only wait bound not derived from the spec: the same at every
    time scale."""

    route_update_s: float = ROUTE_UPDATE_S
    """How long a route change may take, once the router's read-back shows it, to be live in
    every worker of the data plane (Envoy applying an update on a loaded machine). Requests
    this close to a weight change are attributed to neither weight. The same at every scale."""

    @classmethod
    def of(cls, spec: CanarySpec) -> SuiteTimeouts:
        """For a Canary as the engine runs it: `spec.scaled(time_scale)` (engine.spec)."""
        a = spec.analysis
        return cls(interval_s=a.interval_s, rollout_s=run_bound(spec),
                   hooks_s=sum((h.timeout_s for h in a.webhooks), 0.0))

    @classmethod
    def of_release(cls, app: ApplicationSpec, time_scale: float) -> SuiteTimeouts:
        """For a Shipper Application as loaded, run at `time_scale` (the engine scales its
        interval). A release paces itself, one step per interval, and calls no hooks."""
        interval = app.interval_s * time_scale
        return cls(interval_s=interval, rollout_s=len(app.steps) * interval, hooks_s=0.0)

    @property
    def poll_s(self) -> float:
        """Poll period of a stability check (`holds`): a state the engine keeps for one tick is
        seen POLLS_PER_INTERVAL times."""
        return self.interval_s / POLLS_PER_INTERVAL

    @property
    def held_s(self) -> float:
        """A weight seen at least this long was held. A move is two router updates, each live
        within `route_update_s`: a split passed on the way between them is seen for less."""
        return 2 * self.route_update_s

    def ticks_s(self, n: int) -> float:
        """Until `n` more ticks have run: a state set by the tick now running or by one of the
        next `n - 1` is there within it (no load or hook paces this wait)."""
        return n * self.interval_s

    def requests_s(self, n: int, rps: float) -> float:
        """Until a load at `rps` (> 0) has recorded `n` more requests: their time at that rate,
        plus the machine allowance (the load may still be starting, or be stalled)."""
        return n / rps + self.machine_s
