"""A canary whose replica crashes in a loop: AppVersion(crash_after=1) dies on its first app
request and the platform restarts it with a growing back-off, as a kubelet would.

Expected (SEMANTICS.md §4, steps 7 and 9, in that order within a tick):
- a tick that finds the canary not ready waits: no count, no step (step 7);
- once the canary has been not ready for `progressDeadlineSeconds` (6 s at time scale 0.1)
  the tick rolls back: "progress deadline exceeded" (step 7);
- a tick that finds it ready runs the analysis, which fails on the 5xx its crashes cause and
  counts (step 10); with `threshold` failures, the next ready tick rolls back (step 9).
A replica that crashes on its first request is ready only for the moment between its restart
and Envoy's next health check, so SEMANTICS predicts the progress deadline; the failed-check
path happens only if `threshold` ticks catch it ready first. The test checks the engine
against this rule tick by tick and reports which path it took.
Then: routes 100/0 (the canary never reached its maximum weight), the primary kept answering
(no 5xx from v1), and no request failed before the first step or after the rollback.
"""

from __future__ import annotations

import pytest
from fault_support import ticks

from progressive.load.recording import is_failure
from progressive.workloads.base import AppVersion

pytestmark = pytest.mark.integration

# Tick start times are fixed-rate but events are stamped when written: tolerance at the
# deadline's boundary (4 intervals of 1.5 s = exactly the 6 s deadline at time scale 0.1).
BOUNDARY_S = 0.25
ROLLBACK_GUARD_S = 0.5  # requests completing this soon after the rollback may predate it


def check_rule(spec, events) -> str:
    """Walk the ticks after the first step against SEMANTICS §4 steps 7 and 9; the path."""
    canary, deadline = spec.canary_name, spec.progress_deadline_s
    threshold = spec.analysis.threshold
    all_ticks = ticks(events)
    stepped = next(i for i, tick in enumerate(all_ticks) if "step" in tick.actions)
    streak_since = None
    for tick in all_ticks[stepped + 1:]:
        failed_before = tick.end["failedChecks"] - ("check_failed" in tick.actions)
        if tick.waited_for(canary):
            streak_since = tick.t if streak_since is None else streak_since
            assert "check_failed" not in tick.actions and "step" not in tick.actions, tick
            assert tick.t - streak_since < deadline + BOUNDARY_S, f"waited past the deadline {tick}"
            continue
        if "rollback" in tick.actions:
            message = next(e["message"] for e in tick.events if e["action"] == "rollback")
            if "progress deadline exceeded" in message:
                assert streak_since is not None and tick.t - streak_since >= deadline - BOUNDARY_S
                return "progress deadline"
            assert "failed checks threshold reached" in message, message
            assert failed_before >= threshold and streak_since is None, tick
            return "failed checks"
        streak_since = None  # ready: the analysis ran; it fails on the crashes' 5xx, or, when
        # its window held only answers from a replica between restart and crash, it passes
        # and the canary steps (step 10 either way)
        assert tick.actions[-1] in ("check_failed", "step") and failed_before < threshold, tick
    raise AssertionError("no rollback after the first step")


def test_crash_looping_canary_is_rolled_back_as_semantics_says(rollout, figures):
    obs, _ = rollout(AppVersion("v3", crash_after=1))
    events = obs.events
    path = check_rule(obs.spec, events)
    detected = next(e["t"] for e in events if e["action"] == "new_revision")
    first_step = next(e["t"] for e in events if e["action"] == "step")
    rollback = next(e["t"] for e in events if e["action"] == "rollback")
    failures = [r for r in obs.records if is_failure(r.status)]
    figures("rollback_path", path)
    figures("failed_checks", obs.status.failed_checks)
    figures("detection_to_rollback_s", round(rollback - detected, 2))
    figures("canary_routed_failed_requests", len(failures))
    figures("requests_total", len(obs.records))

    assert obs.status.phase == "Failed", obs.explain(30)
    weights = obs.weights_seen()
    assert weights[-1] == 0 and max(weights) < obs.spec.analysis.max_weight, obs.explain(30)
    assert not [r for r in failures if r.version == "v1"], "the primary answered 5xx"
    assert not [r for r in failures if r.t < first_step], "requests failed before any step"
    late = [r for r in failures if r.t > rollback + ROLLBACK_GUARD_S]
    assert not late, f"{len(late)} requests failed after the rollback"
