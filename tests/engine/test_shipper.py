"""ShipperRelease on fakes at its seams (Router, Workloads) and a FakeClock: the exact order of
capacity and traffic sub-moves forward and back, readiness before traffic, capacity rounding,
one step per interval, rollback and refused input. No sleeps, no sockets.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from progressive.clock import FakeClock
from progressive.engine.events import EventLog
from progressive.engine.shipper import (
    ShipperRelease,
    check_application,
    traffic_weights,
)
from progressive.errors import InvalidSpec
from progressive.model.application import SHORT_STEPS
from progressive.model.types import ApplicationSpec, CanarySpec, ReleaseStep
from progressive.routing.base import RouterError, Routes
from progressive.workloads.base import Readiness

APP = "croc-hunter"
PRIMARY = "croc-hunter-primary"  # the incumbent
CANARY = "croc-hunter-canary"  # the contender
INTERVAL_S = 15.0


class Journal:
    """Every call at either seam, in order, with the virtual time it happened at."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.entries: list[tuple] = []

    def add(self, *entry) -> None:
        self.entries.append((self.clock.now(), *entry))

    def ops(self, *, polls: bool = False) -> list[tuple]:
        """The calls without their times; readiness polls only when asked for."""
        return [e[1:] for e in self.entries if polls or e[1] != "ready?"]

    def clear(self) -> None:
        self.entries.clear()


class FakeRouter:
    def __init__(self, journal: Journal):
        self.journal = journal
        self.routes: Routes | None = None
        self.specs: list[CanarySpec] = []
        self.refuse = False

    def reconcile(self, canary: CanarySpec) -> None:
        self.journal.add("reconcile", canary.name)
        if self.routes is None:
            self.routes = Routes(100, 0)

    def set_routes(self, canary: CanarySpec, primary_weight: int, canary_weight: int,
                   mirrored: bool = False) -> None:
        if self.refuse:
            raise RouterError("update_rejected")
        assert primary_weight + canary_weight == 100
        self.specs.append(canary)
        self.journal.add("routes", primary_weight, canary_weight)
        self.routes = Routes(primary_weight, canary_weight, mirrored)

    def get_routes(self, canary: CanarySpec) -> Routes:
        return self.routes


class FakeWorkloads:
    """Replica counts per name. After each scale-up, `warmup[name]` polls answer not ready;
    `readiness[name]` overrides every answer."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.counts = {PRIMARY: 3, CANARY: 0}
        self.warmup: dict[str, int] = {}
        self.pending: dict[str, int] = {}
        self.readiness: dict[str, Callable[[], Readiness]] = {}

    def scale(self, name: str, replicas: int) -> None:
        self.journal.add("scale", name, replicas)
        if replicas > self.counts[name]:
            self.pending[name] = self.warmup.get(name, 0)
        self.counts[name] = replicas

    def is_ready(self, name: str) -> Readiness:
        if name in self.readiness:
            answer = self.readiness[name]()
        elif self.pending.get(name, 0) > 0:
            self.pending[name] -= 1
            answer = Readiness(False, True, "1/3 replicas ready")
        else:
            answer = Readiness(self.counts[name] > 0, True, f"{self.counts[name]} ready")
        self.journal.add("ready?", name, answer.ready)
        return answer

    def replicas(self, name: str) -> int:
        return self.counts[name]


def application(*steps: ReleaseStep | str, replicas: int = 3) -> ApplicationSpec:
    chosen = tuple(SHORT_STEPS[s] if isinstance(s, str) else s for s in steps)
    return ApplicationSpec(name=APP, namespace="jx-production", replicas=replicas,
                           steps=chosen or tuple(SHORT_STEPS.values()), interval_s=INTERVAL_S)


class Rig:
    def __init__(self, app: ApplicationSpec | None = None, **kw):
        self.clock = FakeClock()
        self.journal = Journal(self.clock)
        self.router = FakeRouter(self.journal)
        self.workloads = FakeWorkloads(self.journal)
        self.events = EventLog()
        self.release = ShipperRelease(app or application(), self.router, self.workloads,
                                      self.clock, self.events, **kw)

    def actions(self) -> list[str]:
        return [r["action"] for r in self.events.records]


# Four distinct capacities, so that every sub-move of a move is visible.
A = ReleaseStep("A", incumbent_capacity=100, incumbent_traffic=100, contender_capacity=25,
                contender_traffic=0)
B = ReleaseStep("B", incumbent_capacity=50, incumbent_traffic=50, contender_capacity=50,
                contender_traffic=50)


class TestOrder:
    def test_forward_capacity_up_then_traffic_then_capacity_down(self):
        rig = Rig(application(A, B, replicas=4))
        assert rig.release.advance_to(0)
        rig.journal.clear()
        assert rig.release.advance_to(1)
        assert rig.journal.ops(polls=True) == [
            ("scale", CANARY, 2),  # contender capacity up: ceil(4 * 50%)
            ("ready?", CANARY, True),
            ("routes", 67, 33),  # contender traffic up (incumbent still 100): 100:50
            ("routes", 50, 50),  # incumbent traffic down
            ("scale", PRIMARY, 2),  # incumbent capacity down
        ]

    def test_backward_reverses_it(self):
        rig = Rig(application(A, B, replicas=4))
        assert rig.release.advance_to(0) and rig.release.advance_to(1)
        rig.journal.clear()
        assert rig.release.advance_to(0)
        assert rig.journal.ops(polls=True) == [
            ("scale", PRIMARY, 4),  # incumbent capacity up
            ("ready?", PRIMARY, True),
            ("routes", 67, 33),  # incumbent traffic up (contender still 50): 100:50
            ("routes", 100, 0),  # contender traffic down
            ("scale", CANARY, 1),  # contender capacity down: ceil(4 * 25%)
        ]
        assert rig.release.achieved_step == 0

    def test_staging_50_50_full_on_and_back(self):
        rig = Rig()  # staging, 50/50, full on; 3 replicas
        release = rig.release
        assert release.incumbent == PRIMARY and release.contender == CANARY
        assert release.advance_to(0)
        assert rig.journal.ops() == [("reconcile", APP), ("scale", CANARY, 3), ("routes", 100, 0)]
        rig.journal.clear()
        assert release.advance_to(1)
        assert rig.journal.ops() == [("routes", 67, 33), ("routes", 50, 50)]
        rig.journal.clear()
        assert release.advance_to(2)
        assert rig.journal.ops() == [("routes", 33, 67), ("routes", 0, 100),
                                     ("scale", PRIMARY, 0)]
        rig.journal.clear()
        assert release.advance_to(1)
        assert rig.journal.ops(polls=True) == [
            ("scale", PRIMARY, 3), ("ready?", PRIMARY, True), ("routes", 33, 67),
            ("routes", 50, 50)]
        assert rig.router.routes == Routes(50, 50)

    def test_jump_over_a_step_is_one_move(self):
        rig = Rig()
        assert rig.release.advance_to(0)
        rig.journal.clear()
        assert rig.release.advance_to(2)
        # staging -> full on: contender traffic up (100:100), incumbent traffic down, capacity.
        assert rig.journal.ops() == [("routes", 50, 50), ("routes", 0, 100),
                                     ("scale", PRIMARY, 0)]

    def test_router_gets_a_canary_named_after_the_application(self):
        rig = Rig()
        rig.release.run()
        spec = rig.router.specs[0]
        assert (spec.name, spec.namespace, spec.target) == (APP, "jx-production", APP)
        assert (spec.primary_name, spec.canary_name) == (PRIMARY, CANARY)


class TestCapacity:
    @pytest.mark.parametrize("replicas, pct, expected", [
        (3, 50, 2), (3, 100, 3), (3, 1, 1), (3, 0, 0), (4, 25, 1), (10, 33, 4), (1, 50, 1)])
    def test_capacity_is_ceil(self, replicas, pct, expected):
        assert ApplicationSpec.capacity(replicas, pct) == expected

    def test_three_replicas_at_half_capacity_run_two(self):
        half = ReleaseStep("half", 100, 100, 50, 0)
        rig = Rig(application(half, "full on", replicas=3))
        assert rig.release.advance_to(0)
        assert ("scale", CANARY, 2) in rig.journal.ops()
        assert rig.workloads.counts == {PRIMARY: 3, CANARY: 2}


class TestReadiness:
    def test_traffic_moves_only_after_the_contender_is_ready(self):
        rig = Rig()
        rig.workloads.warmup[CANARY] = 3
        start = rig.clock.now()
        assert rig.release.advance_to(0)
        entries = rig.journal.entries
        scaled = next(i for i, e in enumerate(entries) if e[1:] == ("scale", CANARY, 3))
        routed = next(i for i, e in enumerate(entries) if e[1] == "routes")
        between = [e[1:] for e in entries[scaled + 1:routed]]
        assert between == [("ready?", CANARY, False)] * 3 + [("ready?", CANARY, True)]
        assert entries[routed][0] > start  # virtual time passed while waiting

    def test_never_ready_moves_no_traffic_and_fails_within_the_bound(self):
        rig = Rig()
        rig.workloads.readiness[CANARY] = lambda: Readiness(False, True, "0/3 replicas ready")
        start = rig.clock.now()
        assert not rig.release.advance_to(0)
        assert rig.release.achieved_step is None
        assert [op for op in rig.journal.ops() if op[0] == "routes"] == []
        assert rig.clock.now() - start == pytest.approx(INTERVAL_S)  # the spec's interval
        assert "not ready within 15s" in rig.release.last_error
        assert rig.actions()[-1] == "wait"

    def test_ready_timeout_can_be_given(self):
        rig = Rig(ready_timeout_s=60.0)
        rig.workloads.readiness[CANARY] = lambda: Readiness(False, True, "starting")
        start = rig.clock.now()
        assert not rig.release.advance_to(0)
        assert rig.clock.now() - start == pytest.approx(60.0)

    def test_failed_for_good_stops_at_once(self):
        rig = Rig()
        rig.workloads.readiness[CANARY] = lambda: Readiness(False, False, "crash loop")
        start = rig.clock.now()
        assert not rig.release.advance_to(0)
        assert rig.clock.now() == start
        assert "crash loop" in rig.release.last_error

    def test_incumbent_is_ready_before_traffic_comes_back(self):
        rig = Rig()
        rig.release.run()
        rig.workloads.warmup[PRIMARY] = 2
        rig.journal.clear()
        assert rig.release.advance_to(1)
        polls = rig.journal.ops(polls=True)
        assert polls[:4] == [("scale", PRIMARY, 3), ("ready?", PRIMARY, False),
                             ("ready?", PRIMARY, False), ("ready?", PRIMARY, True)]
        assert polls[4][0] == "routes"


class TestRun:
    def test_one_step_per_interval_to_the_last(self):
        rig = Rig()
        start = rig.clock.now()
        assert rig.release.run()
        assert rig.release.achieved_step == 2
        achieved = [(r["t"] - start, r["message"].split(" (")[0]) for r in rig.events.records
                    if "achieved" in r["message"]]
        assert achieved == [(0.0, "step 0"), (INTERVAL_S, "step 1"), (2 * INTERVAL_S, "step 2")]
        last = rig.events.records[-1]
        assert (last["action"], last["phase"], last["iterations"]) == ("succeed", "Succeeded", 3)
        assert (last["primaryWeight"], last["canaryWeight"]) == (0, 100)

    def test_stops_at_a_target_step_and_goes_on_later(self):
        rig = Rig()
        assert rig.release.run(target_step=1)
        assert rig.release.achieved_step == 1 and rig.router.routes == Routes(50, 50)
        assert rig.release.state.phase.value == "Progressing"
        assert rig.release.run()
        assert rig.router.routes == Routes(0, 100)
        assert rig.release.run(target_step=0)  # one backward move
        assert rig.router.routes == Routes(100, 0)
        assert rig.workloads.counts == {PRIMARY: 3, CANARY: 3}

    def test_failed_step_rolls_back(self):
        small = ReleaseStep("small", 100, 100, 33, 0)  # 1 replica of 3
        rig = Rig(application(small, "50/50", "full on"))
        rig.workloads.readiness[CANARY] = lambda: Readiness(rig.workloads.counts[CANARY] <= 1,
                                                            True, "new replicas not ready")
        assert not rig.release.run()
        assert rig.release.achieved_step == 0
        assert rig.release.state.phase.value == "Failed"
        assert rig.router.routes == Routes(100, 0)
        assert rig.workloads.counts == {PRIMARY: 3, CANARY: 1}
        assert "rollback" in rig.actions()
        assert [op for op in rig.journal.ops() if op[0] == "routes"] == [("routes", 100, 0)]

    def test_router_refusal_fails_the_move(self):
        rig = Rig()
        assert rig.release.advance_to(0)
        rig.router.refuse = True
        assert not rig.release.advance_to(1)
        assert rig.release.achieved_step == 0
        assert "update_rejected" in rig.release.last_error


class TestRollback:
    def test_from_full_on_in_backward_order(self):
        rig = Rig()
        assert rig.release.run()
        rig.journal.clear()
        assert rig.release.rollback("bad release")
        assert rig.journal.ops(polls=True) == [
            ("scale", PRIMARY, 3), ("ready?", PRIMARY, True),
            ("routes", 50, 50),  # incumbent traffic up first (contender still 100)
            ("routes", 100, 0),  # then contender traffic down
        ]
        assert rig.release.achieved_step == 0
        rollback = rig.events.of("rollback")[0]
        assert rollback["message"].startswith("bad release: back to step 0 (staging)")
        assert rig.events.records[-1]["phase"] == "Failed"

    def test_before_any_step_does_nothing(self):
        rig = Rig()
        assert rig.release.rollback()
        assert rig.journal.ops() == [] and rig.events.records == []

    def test_after_a_failed_first_step_removes_the_contender(self):
        rig = Rig()
        rig.workloads.readiness[CANARY] = lambda: Readiness(False, True, "starting")
        assert not rig.release.run()
        assert rig.workloads.counts == {PRIMARY: 3, CANARY: 0}
        assert rig.router.routes == Routes(100, 0)
        assert rig.release.achieved_step is None


class TestWeights:
    @pytest.mark.parametrize("incumbent, contender, weights", [
        (50, 50, (50, 50)), (100, 0, (100, 0)), (0, 100, (0, 100)), (100, 50, (67, 33)),
        (50, 100, (33, 67)), (1, 100, (1, 99)), (30, 10, (75, 25)), (20, 20, (50, 50))])
    def test_normalised_to_100(self, incumbent, contender, weights):
        assert traffic_weights(incumbent, contender) == weights

    @pytest.mark.parametrize("incumbent, contender", [(0, 0), (-10, 10)])
    def test_nothing_anywhere_is_refused(self, incumbent, contender):
        with pytest.raises(ValueError):
            traffic_weights(incumbent, contender)

    def test_weights_per_step(self):
        rig = Rig()
        seen = []
        for i in range(3):
            assert rig.release.advance_to(i)
            seen.append(rig.router.routes)
        assert seen == [Routes(100, 0), Routes(50, 50), Routes(0, 100)]

    def test_events_carry_the_weights(self):
        rig = Rig()
        rig.release.run(target_step=1)
        rec = rig.events.records[-1]
        assert set(rec) >= {"t", "canary", "phase", "canaryWeight", "primaryWeight",
                            "failedChecks", "iterations", "action", "message"}
        assert (rec["canary"], rec["primaryWeight"], rec["canaryWeight"]) == (APP, 50, 50)


class TestInvalidInput:
    @pytest.mark.parametrize("step, words", [
        (ReleaseStep("none", 100, 0, 100, 0), "traffic: sends no traffic"),
        (ReleaseStep("over", 150, 100, 0, 0), "capacity.incumbent: must be between 0 and 100"),
        (ReleaseStep("neg", 100, 100, 0, -5), "traffic.contender: must be between 0 and 100"),
        (ReleaseStep("empty", 100, 50, 0, 50), "traffic.contender: sends traffic to the "
                                                "contender, which has no capacity"),
    ])
    def test_bad_step_is_refused_with_its_path(self, step, words):
        with pytest.raises(InvalidSpec) as err:
            Rig(application("staging", step))
        assert any(p.startswith("spec.template.strategy.steps[1].") and words in p
                   for p in err.value.problems), err.value.problems

    def test_no_steps_and_no_replicas(self):
        app = ApplicationSpec(name=APP, namespace="ns", replicas=0, steps=(), interval_s=0)
        with pytest.raises(InvalidSpec) as err:
            check_application(app)
        assert len(err.value.problems) == 3

    @pytest.mark.parametrize("index", [-1, 3, True, "1", 1.0])
    def test_bad_step_index(self, index):
        rig = Rig()
        with pytest.raises(ValueError):
            rig.release.advance_to(index)
        with pytest.raises(ValueError):
            rig.release.run(target_step=index)
        assert rig.journal.ops() == []
