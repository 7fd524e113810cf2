"""The rules of SEMANTICS.md (§4 to §12) the conformance suites assert, by number.

A conformance test names the rules it asserts on its marker (`rules=["4.9", "6.1"]`); the
plugin refuses a name that is not here, and the coverage map (reports/coverage.py) lists, per
rule, the tests that assert it, and as a gap every rule that no test asserts. The numbers are
SEMANTICS.md's: §4's are the steps of its tick (4.1 to 4.11) and its consequences (4.12 on);
§8's the rows of its table; the others number the rules of their section in order.

`seam` says what a rule judges: the rollout engine (an engine that breaks it can be built, see
tests/power), or the platform's router and data plane (fixed splits and the traffic on the
wire, which no engine decides).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    seam: str = "engine"  # or "router"


RULES: tuple[Rule, ...] = (
    Rule("4.1", "initialisation: the primary serves all traffic (100/0) and the target runs "
                "no replicas"),
    Rule("4.3", "a primary that is not ready makes the tick wait: no step, nothing counted"),
    Rule("4.6", "a revision changed during the analysis restarts it from weight 0 (not a "
                "rollback)"),
    Rule("4.7", "a canary that never becomes ready is rolled back at the progress deadline; "
                "the wait is not counted"),
    Rule("4.9", "rollback at the tick after the threshold-th failed check, not before"),
    Rule("4.10", "pre-rollout hooks run on the first analysis tick, rollout hooks on the later "
                 "ones; a failure counts"),
    Rule("4.11", "each passing tick steps the weight by stepWeight up to maxWeight: the router "
                 "holds exactly the spec's sequence (and §12)"),
    Rule("4.12", "failedChecks is not reset by a passing check"),
    Rule("4.13", "with stepWeights the weight walks that list"),
    Rule("4.14", "a check whose query returns no data is a failed check"),
    Rule("5.1", "promotion: the primary runs the new version, routes return to 100/0, the "
                "canary is scaled to zero, Succeeded, and no request fails"),
    Rule("5.2", "stepWeightPromotion moves the primary up by that step per tick"),
    Rule("5.3", "skipAnalysis promotes a new revision at once, without steps"),
    Rule("6.1", "rollback: routes 100/0, the canary scaled to zero, Failed; the primary keeps "
                "serving the old version"),
    Rule("6.2", "a rollback hook answering success aborts the run at once, uncounted"),
    Rule("7.1", "request success rate: the non-5xx share of the canary's requests over the "
                "metric's window, below its minimum fails"),
    Rule("7.2", "request duration: the canary's P99 over the metric's window, above its "
                "maximum fails"),
    Rule("8.1", "a closed confirm-rollout gate keeps a new revision Waiting, uncounted"),
    Rule("8.2", "a closed confirm-traffic-increase gate halts the weight, uncounted"),
    Rule("8.3", "a closed confirm-promotion gate holds WaitingPromotion at max weight"),
    Rule("8.4", "post-rollout hooks are called once the rollout ended"),
    Rule("9.1", "blue-green (Flagger form): iterations with no production traffic, then all "
                "traffic switches in one change, zero failed requests"),
    Rule("9.2", "blue-green (Shipper form): capacity before traffic forward, traffic before "
                "capacity back, zero failed requests"),
    Rule("10.1", "A/B: matching requests reach the canary and the others never do"),
    Rule("10.2", "mirroring: the canary gets a copy of the traffic, clients see only the "
                 "primary's answers"),
    Rule("11.1", "a fixed 99/1 split sends about 1% of requests to the preview", "router"),
    Rule("11.2", "a header route sends every matching request to the preview and no other",
         "router"),
    Rule("11.3", "a preview answers on its own address with its own version", "router"),
    Rule("12.1", "the traffic on the wire follows every weight the router holds", "router"),
)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def unknown(ids) -> list[str]:
    """The ids that name no rule."""
    return [i for i in ids if i not in BY_ID]
