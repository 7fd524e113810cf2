"""Webhooks that hang past their timeout, answer 500 or refuse the connection, for every hook
type, through the engine with the real webhook caller (engine/webhooks.py) and a real HTTP
server on 127.0.0.1. The rest of the engine's seams are the engine tests' fakes.

tests/engine/test_engine_hooks.py pins each type's semantics with scripted answers, and
tests/engine/test_webhooks.py the caller against real servers; this joins the two: a real
failure mode, seen by the engine, gates or counts as SEMANTICS.md §8 says:

| type                     | on failure                                     |
|--------------------------|------------------------------------------------|
| confirm-rollout          | phase Waiting, canary not started, not counted |
| pre-rollout, rollout     | counted: rollback once `threshold` is reached  |
| confirm-traffic-increase | the step is halted, not counted                |
| confirm-promotion        | WaitingPromotion at max weight, not counted    |
| post-rollout             | logged only: the run still Succeeded           |
| rollback                 | no rollback requested: the run still Succeeded |

A hanging hook fails after its own timeout: the tick returns within timeout + margin.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from engine_fakes import CANARY, Rig, make_spec, with_hooks
from test_webhooks import TIMEOUT_MARGIN_S, HookServer

from progressive.engine.webhooks import call_webhook
from progressive.model.types import HookType, Webhook

HOOK_TIMEOUT_S = 0.3
THRESHOLD = 2
TICKS = 8  # enough for a rollout of 10, 20, 30 and a few ticks of waiting
MODES = {  # failure mode -> what the engine's message says
    "hang": f"no answer within {HOOK_TIMEOUT_S:g}s",
    "http-500": "HTTP 500",
    "refused": "connection refused",
}


@pytest.fixture(scope="module")
def server() -> Iterator[HookServer]:
    srv = HookServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def refused_url() -> Iterator[str]:
    """A port bound on 127.0.0.1 that never listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def failing_rig(kind: HookType, mode: str, server: HookServer, refused_url: str) -> Rig:
    url = {"hang": server.url("/hang"), "http-500": server.url("/status/500"),
           "refused": refused_url}[mode]
    hook = Webhook(name=f"{kind.value}-{mode}", type=kind, url=url, timeout_s=HOOK_TIMEOUT_S)
    spec = with_hooks(make_spec(step_weight=10, max_weight=30, threshold=THRESHOLD), hook)
    return Rig(spec, hooks=call_webhook).initialised()


def run(rig: Rig) -> tuple[list, list[float]]:
    """Deploy v2 and tick until the run ends or TICKS; the states and each tick's wall time."""
    rig.deploy("v2")
    states, walls = [], []
    for _ in range(TICKS):
        started = time.monotonic()
        states.append(rig.step())
        walls.append(time.monotonic() - started)
        if states[-1].phase.value in ("Succeeded", "Failed"):
            break
    return states, walls


def trail(states) -> list[tuple[str, int, int]]:
    return [(s.phase.value, s.canary_weight, s.failed_checks) for s in states]


P, WP = "Progressing", "WaitingPromotion"
EXPECTED = {  # (phase, canaryWeight, failedChecks) after each tick from the new revision on
    HookType.CONFIRM_ROLLOUT: [("Waiting", 0, 0)] * TICKS,
    HookType.PRE_ROLLOUT: [(P, 0, 0), (P, 0, 1), (P, 0, 2), ("Failed", 0, 2)],
    HookType.ROLLOUT: [(P, 0, 0), (P, 10, 0), (P, 10, 1), (P, 10, 2), ("Failed", 0, 2)],
    HookType.CONFIRM_TRAFFIC_INCREASE: [(P, 0, 0)] * TICKS,
    HookType.CONFIRM_PROMOTION: [(P, 0, 0), (P, 10, 0), (P, 20, 0), (P, 30, 0)] + [(WP, 30, 0)] * 4,
    HookType.POST_ROLLOUT: [(P, 0, 0), (P, 10, 0), (P, 20, 0), (P, 30, 0), ("Promoting", 30, 0),
                            ("Finalising", 0, 0), ("Succeeded", 0, 0)],
}
EXPECTED[HookType.ROLLBACK] = EXPECTED[HookType.POST_ROLLOUT]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("kind", list(EXPECTED), ids=lambda k: k.value)
def test_a_failing_hook_gates_or_counts_as_semantics_says(server, refused_url, kind, mode):
    rig = failing_rig(kind, mode, server, refused_url)
    states, walls = run(rig)
    assert trail(states) == EXPECTED[kind]
    failures = [e["message"] for e in rig.events.records
                if e["action"] in ("hook_failed", "gate_halt")
                or e["action"] == "hook" and "no rollback requested" in e["message"]]
    assert failures and all(MODES[mode] in m for m in failures), failures
    assert max(walls) < HOOK_TIMEOUT_S + TIMEOUT_MARGIN_S, f"a tick took {max(walls):.2f}s"
    if kind is HookType.CONFIRM_ROLLOUT:
        assert rig.workloads.replicas(CANARY) == 0, "the canary started without approval"
    if kind is HookType.POST_ROLLOUT:
        assert rig.events.records[-2]["action"] == "hook_failed"  # after `succeed`, logged only
