"""A/B testing and mirroring: who reaches the new version while its analysis runs.

SEMANTICS.md §10. A/B: the requests that match the spec's header (or cookie) reach the canary
and no other request does, for the spec's iterations, then the release is promoted. Mirroring
(blue-green with `mirror`): the canary gets a copy of the production traffic, its answers are
discarded, so clients see only the primary's until the switch.

Each "never" is a statistical statement: no request of n reaching the canary rules out, at
false-alarm probability 1e-4, that it gets 1% of them or more (n >= 917,
progressive.stats.zero_count_sample_size); each "all" likewise rules out that 5% or more go
elsewhere (n >= 180).
"""

from __future__ import annotations

import pytest

from progressive.load.traffic import traffic
from progressive.stats import DEFAULT_ALPHA, zero_count_sample_size
from progressive.testing import SuiteTimeouts, assert_promoted, load_spec, with_analysis
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

V1, V2 = AppVersion("v1"), AppVersion("v2")
LEAK = 0.01  # the share of requests reaching the wrong side that the tests rule out ...
MISS = 0.05  # ... and the share of matching requests that miss the canary
MATCHING_RPS, MATCHING_USERS = 40, 4  # the insiders' load, beside the suites' usual one
ITERATIONS = 6  # of the specs' 10: at the suites' 150 req/s still over 917 requests in the run
MIN_COPIES = 100  # mirrored requests the canary must have counted while it gets no real traffic


def _phase_window(obs, canary_weight: int) -> tuple[float, float]:
    """From the router's first step to `canary_weight` (plus the data plane's allowance) until
    the promotion started: the time only the canary runs the new release."""
    step = next(s for s in obs.timeline.steps if s.canary == canary_weight)
    return step.first_seen + obs.timeouts.route_update_s, obs.promotion_started()


@pytest.mark.conformance(
    "ab-testing-match",
    "A/B: requests with the insider header all reach the canary, the others never do; then "
    "the release is promoted",
    features=["ab-testing", "metrics-istio"],
    rules=["10.1", "5.1"],
)
def test_only_matching_requests_reach_the_canary(platform, rollout_under_load, namespace):
    spec = with_analysis(load_spec("canary-ab.yaml", namespace), iterations=ITERATIONS)
    # The insiders' load runs from before the trigger to the end: the canary's checks need
    # its requests on every tick (without them a check has no data, and fails).
    insider = {"x-canary": "insider"}
    with traffic(platform.gateway_url, rps=MATCHING_RPS, users=MATCHING_USERS, headers=insider,
                 host_header=platform.gateway_host(spec)) as matching:
        matching.wait_for_requests(10, timeout=SuiteTimeouts.machine_s)
        obs = rollout_under_load(spec, V1, V2)
    assert_promoted(obs)
    start, end = _phase_window(obs, 100)  # A/B: the match route sends its requests to 100
    insiders = matching.records.started_and_completed_within(start, end)
    assert len(insiders) >= zero_count_sample_size(MISS, DEFAULT_ALPHA), (
        f"only {len(insiders)} matching requests during the A/B run")
    missed = sum(1 for r in insiders if r.version != "v2")
    assert missed == 0, f"{missed} of {len(insiders)} matching requests missed the canary"
    others = obs.records.started_and_completed_within(start, end)
    assert len(others) >= zero_count_sample_size(LEAK, DEFAULT_ALPHA), (
        f"only {len(others)} other requests during the A/B run")
    leaked = sum(1 for r in others if r.version == "v2")
    assert leaked == 0, f"{leaked} of {len(others)} requests without the header reached the canary"


def _canary_requests(platform, spec) -> float:
    """Requests the canary's workload has counted (Istio's metric, destination side). Its
    workload is the target (Flagger) or `<target>-canary` (the bundled engine)."""
    from progressive.metrics.base import NoValues

    query = (f'sum(istio_requests_total{{reporter="destination",'
             f'destination_workload_namespace="{spec.namespace}",'
             f'destination_workload=~"{spec.target}|{spec.canary_name}"}})')
    try:
        return float(platform.metrics().run_query(query))
    except NoValues:
        return 0.0


@pytest.mark.conformance(
    "mirroring-copies",
    "mirroring: the canary gets a copy of the traffic while clients see only the primary's "
    "answers, until the switch",
    features=["blue-green", "mirroring", "metrics-istio"],
    rules=["10.2", "5.1"],
)
def test_mirrored_canary_gets_copies_clients_never_see(platform, rollout_under_load, namespace):
    spec = with_analysis(load_spec("canary-mirror.yaml", namespace), iterations=ITERATIONS)
    copies: dict[str, float] = {}

    def count_copies(engine, timeline):
        """While the router mirrors and the canary has no weight, its request count grows."""
        run = engine.spec
        t = SuiteTimeouts.of(run)
        router = platform.router()
        wait_until(lambda: router.get_routes(run).mirrored or engine.status().done,
                   timeout=t.rollout_s, what="the router to mirror traffic to the canary")

        def counted_or_over() -> bool:
            return (_canary_requests(platform, run) >= MIN_COPIES
                    or router.get_routes(run).canary_weight > 0 or engine.status().done)

        wait_until(counted_or_over, timeout=t.rollout_s,
                   what=f"the canary to count {MIN_COPIES} mirrored requests")
        copies["canary_weight"] = router.get_routes(run).canary_weight
        copies["counted"] = _canary_requests(platform, run)

    obs = rollout_under_load(spec, V1, V2, during=count_copies)
    assert_promoted(obs)
    assert copies.get("counted", 0) >= MIN_COPIES and copies.get("canary_weight") == 0, (
        f"the canary counted {copies.get('counted', 0):.0f} requests before it had real "
        f"traffic (at least {MIN_COPIES} expected)\n{obs.explain()}")
    steps = obs.timeline.steps
    switch = next(i for i, s in enumerate(steps) if s.canary == 100)
    # Completed before the last poll that still saw the old weights began: sent before the switch.
    before = obs.records.started_and_completed_within(0.0, steps[switch - 1].last_seen)
    needed = zero_count_sample_size(LEAK, DEFAULT_ALPHA)
    assert len(before) >= needed, f"only {len(before)} requests before the switch"
    seen = sum(1 for r in before if r.version == "v2")
    assert seen == 0, f"{seen} of {len(before)} clients saw the mirrored canary's answer"
