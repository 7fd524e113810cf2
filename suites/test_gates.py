"""Gates and hooks: confirm-* gates halt without counting; pre-rollout and rollout hooks count.

SEMANTICS.md §8. One rollout carries all three confirm gates, closed: at each, the suite
checks that the rollout holds for several intervals with no failed check and no traffic
change, then opens it. A second rollout's pre-rollout and rollout hooks each fail once and
count, below the threshold, so the release is still promoted. Both use the seed's Canary with
two steps (maxWeight 20): the gates and hooks act before, between and after steps; walking all
five steps is the stepping suite's subject.
"""

from __future__ import annotations

import itertools

import pytest

from progressive.model.types import HookType, Webhook
from progressive.testing import (
    GateServer,
    SuiteTimeouts,
    holds,
    load_spec,
    with_analysis,
    with_webhooks,
)
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

V1, V2 = AppVersion("v1"), AppVersion("v2")
HELD_INTERVALS = 2  # a halt must hold this many analysis intervals (a tick moves within one)
MAX_WEIGHT = 20
GATES = {HookType.CONFIRM_ROLLOUT: "/rollout", HookType.CONFIRM_TRAFFIC_INCREASE: "/increase",
         HookType.CONFIRM_PROMOTION: "/promote"}


@pytest.fixture(scope="module")
def gates():
    server = GateServer()
    yield server
    server.stop()


def hook(gates, kind: HookType, path: str) -> Webhook:
    """A hook on the gate server, with the spec's default timeout (which the engine scales)."""
    return Webhook(kind.value, kind, gates.url(path))


@pytest.fixture(scope="module")
def gated_rollout(module_rollout, gates):
    """The rollout, and what each gate's hold looked like: {path: (phase, weight, failed)}, or
    why it did not hold."""
    for path in GATES.values():
        gates.close(path)
    spec = with_webhooks(with_analysis(load_spec("seed-canary.yaml", "conf-gates"),
                                       max_weight=MAX_WEIGHT),
                         *(hook(gates, kind, path) for kind, path in GATES.items()))
    holds_seen: dict[str, tuple | Exception] = {}
    top = spec.analysis.effective_max_weight()

    def hold_then_open(path: str, engine, timeline, condition, what: str) -> None:
        """Wait for the halt, check it holds (reported status and live weight), open the gate.
        The weight is the router's: Flagger's status reads canaryWeight 0 in WaitingPromotion
        while the routes stay at max weight (pkg/canary/status.go, setStatusPhase)."""
        t = SuiteTimeouts.of(engine.spec)

        def halted() -> bool:
            return (gates.called(path) >= 1 and condition(engine.status(), live_weight(timeline)))

        try:
            wait_until(halted, timeout=t.rollout_s, what=f"the engine to halt at {what}")
            seen, weight = engine.status(), live_weight(timeline)
            holds(lambda: engine.status() == seen and live_weight(timeline) == weight,
                  HELD_INTERVALS * t.interval_s, f"the halt at {what}", poll=t.poll_s)
            holds_seen[path] = (seen.phase, weight, seen.failed_checks)
        except (TimeoutError, AssertionError) as broken:
            holds_seen[path] = broken  # this gate's test fails; the others judge theirs
        finally:
            gates.open(path)

    def during(engine, timeline):
        hold_then_open("/rollout", engine, timeline, lambda s, w: s.phase == "Waiting",
                       "confirm-rollout")
        hold_then_open("/increase", engine, timeline, lambda s, w: s.phase == "Progressing",
                       "confirm-traffic-increase")
        hold_then_open("/promote", engine, timeline,
                       lambda s, w: s.phase == "WaitingPromotion" and w == top,
                       "confirm-promotion")

    obs = module_rollout(spec, V1, V2, during=during)
    return obs, holds_seen


def hold_at(seen: dict, path: str) -> tuple:
    """The hold seen at the gate on `path`: (phase, weight, failed checks)."""
    hold = seen[path]
    if isinstance(hold, BaseException):
        pytest.fail(str(hold))
    return hold


def live_weight(timeline) -> int | None:
    """The canary weight the router serves now (the weight timeline's latest step)."""
    steps = timeline.steps
    return steps[-1].canary if steps else None


@pytest.mark.xdist_group("gates")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "gate-confirm-rollout",
    "a closed confirm-rollout gate keeps a new revision Waiting with no traffic, uncounted",
    features=["canary", "webhooks"],
    rules=["8.1"],
)
def test_confirm_rollout_gate_holds(gated_rollout):
    obs, seen = gated_rollout
    phase, weight, failed = hold_at(seen, "/rollout")
    assert (phase, weight) == ("Waiting", 0)
    assert failed == 0, "a closed confirm-rollout gate was counted as a failed check"


@pytest.mark.xdist_group("gates")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "gate-confirm-traffic-increase",
    "a closed confirm-traffic-increase gate halts the weight where it is, uncounted",
    features=["canary", "webhooks"],
    rules=["8.2"],
)
def test_confirm_traffic_increase_halts_weight(gated_rollout):
    obs, seen = gated_rollout
    phase, weight, failed = hold_at(seen, "/increase")
    assert phase == "Progressing" and weight == 0, f"moved to {weight} past a closed gate"
    assert failed == 0


@pytest.mark.xdist_group("gates")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "gate-confirm-promotion",
    "a closed confirm-promotion gate holds the canary at max weight, then promotion proceeds",
    features=["canary", "webhooks"],
    rules=["8.3", "4.11"],
)
def test_confirm_promotion_waits_at_max_weight(gated_rollout):
    obs, seen = gated_rollout
    phase, weight, failed = hold_at(seen, "/promote")
    assert phase == "WaitingPromotion" and weight == obs.spec.analysis.effective_max_weight()
    assert obs.status.phase == "Succeeded", obs.explain()
    assert obs.weights_seen() == [0, *obs.spec.analysis.weight_sequence(), 0]
    assert obs.status.failed_checks == failed, "a gate was counted as a failed check"


@pytest.fixture(scope="module")
def hooks_rollout(module_rollout, gates):
    """pre-rollout fails its first call and rollout its first (threshold 5): both count, no
    rollback."""
    gates.answers["/pre"] = gates.answers["/load"] = 500
    spec = with_webhooks(with_analysis(load_spec("seed-canary.yaml", "conf-hooks"),
                                       max_weight=MAX_WEIGHT),
                         hook(gates, HookType.PRE_ROLLOUT, "/pre"),
                         hook(gates, HookType.ROLLOUT, "/load"),
                         hook(gates, HookType.POST_ROLLOUT, "/post"), threshold=5)

    first_calls: dict[str, float] = {}

    def fail_each_once(engine, timeline):
        t = SuiteTimeouts.of(engine.spec)
        # Each hook fails its first call only (the answer is fixed when the call arrives);
        # whether the engine counted it is for the tests to judge, not for this setup.
        wait_until(lambda: gates.called("/pre") >= 1, timeout=t.rollout_s,
                   what="the first pre-rollout hook call")
        gates.open("/pre")
        wait_until(lambda: gates.called("/load") >= 1, timeout=t.rollout_s,
                   what="the first rollout hook call")
        gates.open("/load")
        first_calls["/pre"], first_calls["/load"] = gates.first_call("/pre"), gates.first_call("/load")

    return module_rollout(spec, V1, V2, during=fail_each_once), first_calls


@pytest.mark.xdist_group("hooks")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "hook-pre-rollout-counts",
    "a failing pre-rollout hook counts as a failed check and holds traffic at weight 0",
    features=["canary", "webhooks"],
    rules=["4.10"],
)
def test_failing_pre_rollout_hook_counts(hooks_rollout):
    obs, calls = hooks_rollout
    counted = obs.failure_counted()
    assert counted, "the failing pre-rollout hook was never counted"
    assert counted[0].failed_checks == 1, "one failing hook counted as several checks"
    assert counted[0].canary_weight == 0, "pre-rollout failed after traffic moved"
    assert calls["/pre"] <= counted[0].t, "counted before the pre-rollout hook was called"


@pytest.mark.xdist_group("hooks")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "hook-rollout-counts",
    "a failing rollout hook counts as a failed check; failures add up over the run",
    features=["canary", "webhooks"],
    rules=["4.10", "4.12"],
)
def test_failing_rollout_hook_counts(hooks_rollout):
    obs, calls = hooks_rollout
    assert obs.status.phase == "Succeeded", obs.explain()
    first_call = calls["/load"]
    counted = [c for c in obs.failure_counted() if c.t > first_call]
    assert counted, "the failing rollout hook was not counted"
    at = obs.statuses.index(counted[0])
    before = obs.statuses[at - 1].failed_checks
    assert counted[0].failed_checks == before + 1, "one failing hook counted as several checks"
    assert counted[0].canary_weight > 0, "a rollout hook ran before the first step"
    # The passes after each failure leave the count alone: it only grows during the run.
    running = [c for c in obs.statuses if c.phase == "Progressing"]
    dropped = [(a, b) for a, b in itertools.pairwise(running) if b.failed_checks < a.failed_checks]
    assert not dropped, f"a passing check reset the failed checks: {dropped}"
    assert max(c.failed_checks for c in running) == 2, "the two failures did not add up to 2"


@pytest.mark.xdist_group("hooks")  # one rollout, judged by several tests
@pytest.mark.conformance(
    "hook-post-rollout",
    "post-rollout hooks are called once the rollout ended, with its final phase",
    features=["canary", "webhooks"],
    rules=["8.4"],
)
def test_post_rollout_hook_follows_the_end(hooks_rollout, gates):
    obs, _ = hooks_rollout
    assert obs.status.phase == "Succeeded", obs.explain()
    t = obs.timeouts
    # Called by the tick that ended the rollout: it answered before wait_done returned, or
    # during the hook's own timeout after.
    wait_until(lambda: gates.called("/post") >= 1, timeout=t.hooks_s + t.machine_s,
               what="the post-rollout hook call")
    calls = [(payload, at) for path, payload, at in gates.calls if path == "/post"]
    assert calls[0][1] >= obs.promotion_started(), "post-rollout was called before the promotion"
    assert calls[0][0].get("phase") == "Succeeded", calls[0][0]
