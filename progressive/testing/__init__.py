"""The pytest API for a team's own rollout specs; the conformance suites are written with it.

Installing `progressive` registers its pytest plugin (entry point `pytest11`), so in any
repository:

    from progressive.testing import (assert_no_failed_requests, assert_promoted,
                                     assert_rolled_back, release)

    def test_promotes_clean(rollout):
        obs = rollout("canary.yaml", to="v2")
        assert_promoted(obs)
        assert_no_failed_requests(obs)

    def test_rolls_back_a_release_with_errors(rollout):
        assert_rolled_back(rollout("canary.yaml", to=release("v3", error_rate=0.05)))

`pytest --platform local|k8s-local|kind|kubeconfig --engine bundled|flagger --time-scale X`
choose where and against what they run, as for `progressive conformance`.

Fixtures (progressive/testing/fixtures.py): `rollout`, and the plugin's `platform`, `engine`,
`namespace`, `time_scale`. An Observation (rollouts.py) is what a rollout looked like from
outside: `weights_seen()`, `step_shares()` (per step: requests, canary share, acceptance
interval), `phases()`, `statuses`, `failures()`, `versions()`, `events` and `explain()`.
"""

from __future__ import annotations

from progressive.testing.assertions import (
    assert_no_failed_requests,
    assert_promoted,
    assert_rolled_back,
    assert_traffic_follows_weights,
    besides_primary,
    wait_scaled_to_zero,
)
from progressive.testing.gates import GateServer
from progressive.testing.rollouts import (
    FIXTURES,
    LOAD_RPS,
    LOAD_USERS,
    Observation,
    attach_json,
    engine_session,
    holds,
    load_spec,
    observe_rollout,
    with_analysis,
    with_webhooks,
)
from progressive.testing.status_timeline import StatusChange, StatusTimeline
from progressive.testing.timeouts import SuiteTimeouts
from progressive.workloads.base import AppVersion


def release(version: str, **faults) -> AppVersion:
    """A Croc Hunter release to roll out, with fault knobs: error_rate (0..1), latency_ms,
    crash_after (requests), never_ready."""
    return AppVersion(version, **faults)


__all__ = [
    "FIXTURES", "LOAD_RPS", "LOAD_USERS", "AppVersion", "GateServer", "Observation",
    "StatusChange", "StatusTimeline", "SuiteTimeouts", "assert_no_failed_requests",
    "assert_promoted", "assert_rolled_back", "assert_traffic_follows_weights", "attach_json",
    "besides_primary", "engine_session", "holds", "load_spec", "observe_rollout", "release",
    "wait_scaled_to_zero", "with_analysis", "with_webhooks",
]
