"""What a rollout must have looked like, as assertions on an Observation.

The same statistics and bounds the conformance suites judge engines by (the suites call these):

- traffic follows the weights: for every weight step the router held, the canary's share of
  the requests that started and ended inside the step passes an exact two-sided binomial test
  at false-alarm probability `alpha` per step (default 1e-4, progressive.stats.DEFAULT_ALPHA);
- a rollback comes within `(threshold + 1) x interval` of the first of the failed checks that
  caused it (progressive.engine.bounds.rollback_bound, SEMANTICS.md §4).

Each failure message carries the engine's recent story (Observation.explain).
"""

from __future__ import annotations

from progressive.engine.bounds import rollback_bound
from progressive.load.recording import is_failure
from progressive.stats import DEFAULT_ALPHA
from progressive.testing.rollouts import Observation
from progressive.testing.status_timeline import failing_streak
from progressive.waiting import wait_until


def besides_primary(platform, spec) -> dict[str, int]:
    """The replicas that run beside the primary: the target and the canary workload (an engine
    may run its canary as the target, as Flagger does, or beside it, as the bundled one does).
    After initialisation and after a rollout ended, both must be at zero (SEMANTICS §4, §5, §6)."""
    workloads = platform.workloads(spec.namespace)
    running = {name: workloads.replicas(name) for name in (spec.target, spec.canary_name)}
    return {name: n for name, n in running.items() if n}


def wait_scaled_to_zero(platform, obs: Observation, what: str = "the canary") -> None:
    """Wait until nothing but the primary runs replicas after the rollout ended: the tick that
    ended it scales the rest to zero, or the next one does (SEMANTICS §5, §6)."""
    wait_until(lambda: not besides_primary(platform, obs.spec), timeout=obs.timeouts.interval_s,
               what=f"{what} to be scaled to zero after the rollout ended")


def assert_no_failed_requests(obs: Observation) -> None:
    """No request failed (no answer or a 5xx) from the first request to the last."""
    failed = [r for r in obs.records if is_failure(r.status)]
    assert not failed, (f"{len(failed)} of {len(obs.records)} requests failed; first: "
                        f"{failed[0]}")


def assert_traffic_follows_weights(obs: Observation, alpha: float = DEFAULT_ALPHA) -> None:
    """Every step's canary share is inside its acceptance interval at false-alarm probability
    `alpha`, and every weight of the spec carried requests. Judged until the promotion starts
    (from then on the primary runs the new release too)."""
    until = obs.promotion_started() if obs.status.phase == "Succeeded" else obs.done_at
    steps = [s for s in obs.step_shares(alpha=alpha, until=until) if s.n > 0]
    assert steps, "no request fell inside any weight step"
    bad = [s for s in steps if not s.consistent]
    assert not bad, "canary share outside its acceptance interval:\n" + "\n".join(
        f"  weight {s.canary_weight}: {s.k}/{s.n} = {s.share:.3f}, interval {s.interval}"
        for s in bad)
    if obs.status.phase == "Succeeded":
        stepped = {s.canary_weight for s in steps if s.canary_weight > 0}
        missing = set(obs.spec.analysis.weight_sequence()) - stepped
        assert not missing, f"no request was answered while weights {sorted(missing)} held"


def assert_promoted(obs: Observation) -> None:
    """Succeeded; the router walked the spec's weights and is back at 100/0; after the end
    every answer comes from the new release."""
    assert obs.status.phase == "Succeeded", f"phase {obs.status.phase}\n{obs.explain()}"
    weights = obs.weights_seen()
    assert weights, "the router's weights were never read (see the timeline's errors)"
    assert weights[-1] == 0, f"routes are not back on the primary: weights seen {weights}"
    assert obs.release is not None and obs.done_at is not None
    tail = obs.records.between(obs.done_at, float("inf"))
    wrong = {r.version for r in tail} - {obs.release.version}
    assert tail and not wrong, f"after the promotion the gateway still answers {wrong}"


def assert_rolled_back(obs: Observation, by_failed_checks: bool = True) -> None:
    """Failed; routes back at 100/0 before the canary reached its maximum weight; no request
    the primary answered failed; and, `by_failed_checks` (a release that answers errors or is
    slow), rolled back at exactly the spec's threshold of failed checks and within
    rollback_bound of the failures that began it. Pass False for a rollback with another
    cause (a progress deadline, a `rollback` webhook)."""
    spec = obs.spec
    assert obs.status.phase == "Failed", f"phase {obs.status.phase}\n{obs.explain()}"
    weights = obs.weights_seen()
    assert weights, "the router's weights were never read (see the timeline's errors)"
    assert weights[-1] == 0, f"routes are not back at 100/0 on the primary: {weights}"
    assert max(weights) < spec.analysis.effective_max_weight(), "the canary reached max weight"
    bad = obs.release.version if obs.release else None
    bystanders = [r for r in obs.records if r.version != bad and is_failure(r.status)]
    assert not bystanders, f"{len(bystanders)} requests failed on the primary during the rollback"
    if not by_failed_checks:
        return
    counted = obs.failure_counted()
    assert counted, f"no failed check was counted before the rollback\n{obs.explain()}"
    most = max(c.failed_checks for c in obs.statuses)
    assert most == spec.analysis.threshold, (
        f"rolled back at {most} failed checks, threshold {spec.analysis.threshold}")
    rolled_back = obs.ended()
    assert rolled_back.t >= counted[-1].not_before, "rolled back before the threshold"
    late = rolled_back.not_before - failing_streak(counted, spec.analysis.interval_s).t
    bound = rollback_bound(spec)
    assert late <= bound, f"rolled back {late:.1f} s after the failures began (bound {bound:.1f} s)"
