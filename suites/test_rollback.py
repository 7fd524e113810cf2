"""Automatic rollback: a bad release is rolled back within the bound the spec implies.

SEMANTICS.md §4 (failedChecks counts failures in the run; rollback at the start of the tick
after the N-th failure; no data is a failure), §6 (routes 100/0, canary to zero, the primary
keeps serving; a `rollback` webhook aborts at once), §7 (success rate, P99 duration).
"""

from __future__ import annotations

import pytest

from progressive.engine.bounds import progress_deadline_bound
from progressive.model.types import HookType, Webhook
from progressive.testing import (
    GateServer,
    SuiteTimeouts,
    assert_rolled_back,
    load_spec,
    wait_scaled_to_zero,
    with_analysis,
    with_webhooks,
)
from progressive.workloads.base import AppVersion

V1 = AppVersion("v1")


def first(events, action):
    return next(e for e in events if e["action"] == action)


@pytest.mark.conformance(
    "rollback-error-rate",
    "a release answering 10% errors is rolled back after exactly `threshold` failed checks",
    features=["canary", "metrics-istio"],
    rules=["4.9", "6.1", "7.1"],
)
def test_error_rate_breach_rolls_back(platform, rollout_under_load, namespace):
    spec = load_spec("seed-canary.yaml", namespace)
    obs = rollout_under_load(spec, V1, AppVersion("v3", error_rate=0.10))

    assert_rolled_back(obs)  # at exactly `threshold` failed checks, within rollback_bound
    wait_scaled_to_zero(platform, obs)


@pytest.mark.conformance(
    "rollback-no-data",
    "a canary that receives no request has no metrics: each check fails, it is never promoted "
    "and is rolled back after `threshold` failed checks",
    features=["canary", "metrics-istio"],
    rules=["4.14", "4.9", "6.1"],
)
def test_canary_without_traffic_is_rolled_back(rollout_under_load, namespace):
    spec = with_analysis(load_spec("seed-canary.yaml", namespace), threshold=2)
    # No load: the canary never sees a request, so every query of its metrics returns no data.
    obs = rollout_under_load(spec, V1, AppVersion("v2"), rps=0)

    assert_rolled_back(obs)


@pytest.mark.conformance(
    "rollback-latency",
    "a release with 800 ms added latency breaks the P99 bound and is rolled back",
    features=["canary", "metrics-istio"],
    rules=["4.9", "6.1", "7.2"],
)
def test_latency_breach_rolls_back(rollout_under_load, namespace):
    spec = load_spec("seed-canary.yaml", namespace)
    obs = rollout_under_load(spec, V1, AppVersion("v3", latency_ms=800))

    assert_rolled_back(obs)
    messages = " ".join(e["message"] for e in obs.events if e["action"] == "check_failed")
    assert "request-duration" in messages or "duration" in messages, messages


@pytest.mark.conformance(
    "rollback-progress-deadline",
    "a canary that never becomes ready is rolled back at the progress deadline",
    features=["canary"],
    rules=["4.7"],
)
def test_never_ready_canary_rolls_back_at_deadline(rollout_under_load, namespace):
    spec = load_spec("seed-canary.yaml", namespace)
    obs = rollout_under_load(spec, V1, AppVersion("v3", never_ready=True))

    assert obs.status.phase == "Failed"
    assert obs.weights_seen() == [0], "traffic moved to a canary that was never ready"
    detected = next(c for c in obs.statuses if c.phase == "Progressing")
    rolled_back = obs.ended()
    # Bracketed by the polls: the true wait lies between these two.
    assert rolled_back.t - detected.not_before >= obs.spec.progress_deadline_s, "too early"
    waited = rolled_back.not_before - detected.t
    assert waited <= progress_deadline_bound(obs.spec) + obs.spec.analysis.interval_s, waited
    assert obs.failures() == 0, "requests failed although the primary kept serving"
    counted = max(c.failed_checks for c in obs.statuses)
    assert counted == 0, f"the wait for the canary was counted as {counted} failed checks"


@pytest.mark.conformance(
    "rollback-webhook-abort",
    "a `rollback` webhook answering success aborts the rollout at once",
    features=["canary", "webhooks"],
    rules=["6.2"],
)
def test_rollback_webhook_aborts(rollout_under_load, namespace):
    gates = GateServer()
    try:
        gates.close("/abort")  # not yet
        spec = with_webhooks(
            load_spec("seed-canary.yaml", namespace),
            Webhook("manual-abort", HookType.ROLLBACK, gates.url("/abort")),  # default timeout
        )

        def abort_after_first_step(engine, timeline):
            from progressive.waiting import wait_until

            def stepped_or_done():
                status = engine.status()
                return status.canary_weight >= 10 or status.done

            wait_until(stepped_or_done, timeout=SuiteTimeouts.of(engine.spec).rollout_s,
                       what="the first weight step")
            gates.open("/abort")  # (a rollout that ended first fails the assertions below)

        obs = rollout_under_load(spec, V1, AppVersion("v2"), during=abort_after_first_step)
    finally:
        gates.stop()
    assert obs.status.phase == "Failed"
    rolled_back = obs.ended()
    assert rolled_back.failed_checks < obs.spec.analysis.threshold, "rolled back by checks"
    at = obs.statuses.index(rolled_back)
    before = max(c.failed_checks for c in obs.statuses[:at])
    assert rolled_back.failed_checks == before, "the abort was counted as a failed check"
    # The gate opened after the last step; the second tick after that step at the latest calls
    # the rollback hook and rolls back as soon as it answered, which may take the hook's timeout.
    steps = obs.statuses[:at]
    last_step = next(c for c, prev in zip(steps[::-1], steps[-2::-1], strict=False)
                     if c.canary_weight > prev.canary_weight)
    t = obs.timeouts
    assert rolled_back.not_before - last_step.t <= 2 * t.interval_s + t.hooks_s
