"""Gates and hooks: confirm-* gates halt without counting; pre-rollout and rollout hooks count.

SEMANTICS.md §8. Each test closes one gate, checks that the rollout holds for several
intervals with no failed check, opens it and checks that the rollout then completes.
"""

from __future__ import annotations

import pytest
from conformance_support import GateServer, holds, load_spec, with_webhooks

from progressive.model.types import HookType, Webhook
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

V1, V2 = AppVersion("v1"), AppVersion("v2")
HELD_INTERVALS = 3  # a halt must hold this many analysis intervals


@pytest.fixture
def gates():
    server = GateServer()
    yield server
    server.stop()


def gated(namespace, gates, kind: HookType, path: str, threshold: int | None = None):
    spec = load_spec("seed-canary.yaml", namespace)
    return with_webhooks(spec, Webhook(kind.value, kind, gates.url(path), timeout_s=5),
                         threshold=threshold)


@pytest.mark.conformance(
    "gate-confirm-rollout",
    "a closed confirm-rollout gate keeps the new revision Waiting with no traffic, uncounted",
    features=["canary", "webhooks"],
)
def test_confirm_rollout_gate_holds_then_proceeds(rollout_under_load, namespace, gates):
    gates.close("/rollout")
    spec = gated(namespace, gates, HookType.CONFIRM_ROLLOUT, "/rollout")

    def hold_then_open(engine, timeline):
        interval = engine.spec.analysis.interval_s
        wait_until(lambda: engine.status().phase == "Waiting", timeout=5 * interval + 5,
                   what="the engine to wait for the confirm-rollout gate")
        holds(lambda: engine.status().phase == "Waiting" and engine.status().failed_checks == 0
              and engine.status().canary_weight == 0, HELD_INTERVALS * interval, "the halt")
        gates.open("/rollout")

    obs = rollout_under_load(spec, V1, V2, during=hold_then_open)
    assert obs.status.phase == "Succeeded"
    assert gates.called("/rollout") >= HELD_INTERVALS


@pytest.mark.conformance(
    "gate-confirm-traffic-increase",
    "a closed confirm-traffic-increase gate halts the weight where it is, uncounted",
    features=["canary", "webhooks"],
)
def test_confirm_traffic_increase_halts_weight(rollout_under_load, namespace, gates):
    gates.close("/increase")
    spec = gated(namespace, gates, HookType.CONFIRM_TRAFFIC_INCREASE, "/increase")

    def hold_then_open(engine, timeline):
        interval = engine.spec.analysis.interval_s
        wait_until(lambda: gates.called("/increase") >= 1, timeout=10 * interval + 5,
                   what="the engine to ask the traffic-increase gate")
        holds(lambda: engine.status().canary_weight == 0 and engine.status().failed_checks == 0,
              HELD_INTERVALS * interval, "the halt at weight 0")
        gates.open("/increase")

    obs = rollout_under_load(spec, V1, V2, during=hold_then_open)
    assert obs.status.phase == "Succeeded"
    assert obs.weights_seen() == [0, *spec.analysis.weight_sequence(), 0]


@pytest.mark.conformance(
    "gate-confirm-promotion",
    "a closed confirm-promotion gate holds the canary at max weight (WaitingPromotion)",
    features=["canary", "webhooks"],
)
def test_confirm_promotion_waits_at_max_weight(rollout_under_load, namespace, gates):
    gates.close("/promote")
    spec = gated(namespace, gates, HookType.CONFIRM_PROMOTION, "/promote")
    top = spec.analysis.effective_max_weight()

    def hold_then_open(engine, timeline):
        interval = engine.spec.analysis.interval_s
        wait_until(lambda: engine.status().phase == "WaitingPromotion", timeout=20 * interval + 10,
                   what="the engine to wait for the promotion gate")
        holds(lambda: engine.status().phase == "WaitingPromotion"
              and engine.status().canary_weight == top, HELD_INTERVALS * interval, "the hold")
        gates.open("/promote")

    obs = rollout_under_load(spec, V1, V2, during=hold_then_open)
    assert obs.status.phase == "Succeeded"


@pytest.mark.conformance(
    "hook-pre-rollout-counts",
    "a failing pre-rollout hook counts as a failed check and rolls back at the threshold",
    features=["canary", "webhooks"],
)
def test_failing_pre_rollout_hook_counts(rollout_under_load, namespace, gates):
    gates.close("/pre")
    spec = gated(namespace, gates, HookType.PRE_ROLLOUT, "/pre", threshold=2)
    obs = rollout_under_load(spec, V1, V2)
    assert obs.status.phase == "Failed"
    assert max(e["failedChecks"] for e in obs.events) == 2
    assert obs.weights_seen() == [0], "traffic moved although pre-rollout failed"


@pytest.mark.conformance(
    "hook-rollout-counts",
    "a failing rollout hook counts as a failed check on every analysis tick",
    features=["canary", "webhooks"],
)
def test_failing_rollout_hook_counts(rollout_under_load, namespace, gates):
    gates.close("/load")
    spec = gated(namespace, gates, HookType.ROLLOUT, "/load", threshold=2)
    obs = rollout_under_load(spec, V1, V2)
    assert obs.status.phase == "Failed"
    assert max(e["failedChecks"] for e in obs.events) == 2
    assert max(obs.weights_seen()) <= spec.analysis.next_weight(0)
