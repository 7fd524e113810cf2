"""One of the primary's two replicas SIGKILLed in the middle of a rollout under load.

Expected (SEMANTICS.md §4 step 3, workloads.py "Restarts"):
- a tick that finds the primary not ready (1/2 replicas) waits: no failed check, no step;
- the platform replaces the replica on its port after its back-off (0.5 s for a first
  restart), as a kubelet restarts a container, within RESTART_BACKOFF_S[0] + SUPERVISE_EVERY_S
  + BIND_TIMEOUT_S;
- the rollout then goes on through every step to Succeeded, with no failed check from the
  kill on;
- requests: Envoy retries a refused connection on the other replica (Istio's default retry
  policy), so requests fail only between the kill and the replacement: those in flight on the
  killed replica, and (measured: 6-13 per kill at 150 req/s) retries refused by Envoy's
  default retry circuit breaker (3 concurrent retries per cluster; Istio raises it to 2^32-1)
  before the health check ejects the dead host. Counted and reported; none outside the window.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from fault_support import failed_since, sigkill, ticks

from progressive.load.recording import is_failure
from progressive.platforms.local.platform import SUPERVISE_EVERY_S
from progressive.platforms.local.workloads import BIND_TIMEOUT_S, RESTART_BACKOFF_S
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

pytestmark = pytest.mark.integration

ATTEMPTS = 3  # a replica replaced between two ticks was not seen by the engine: kill again
REPLACE_BOUND_S = RESTART_BACKOFF_S[-1] + SUPERVISE_EVERY_S + BIND_TIMEOUT_S
# Kill this long before the next tick is due: less than the first restart back-off, so the
# replica is still down when that tick checks the primary's readiness.
LEAD_S = RESTART_BACKOFF_S[0] / 2


def just_before_the_next_tick(run) -> None:
    """Ticks are fixed-rate, one interval apart: from the start of the latest one, wait until
    LEAD_S before the next is due. (A kill at a random moment is replaced between two ticks
    about half the time at time scale 0.1, and the engine never sees it.)"""
    interval = run.spec.analysis.interval_s
    tick = run.wait_event(lambda e: e["action"] == "tick", since=time.time() - interval,
                          timeout=3 * interval, what="a tick")
    due = tick["t"] + interval * (1 + int((time.time() - tick["t"]) // interval)) - LEAD_S
    wait_until(lambda: time.time() >= due, timeout=2 * interval, what="the moment to kill",
               poll=0.01, max_poll=0.01)


def replica(state_dir, namespace: str, workload: str, index: int = 0,
            generation: int | None = None) -> dict:
    """The platform's record of one replica (pid, port), from STATE/workloads.json: replica
    `index` of `generation` (default: the workload's current one). During a promotion the
    primary runs two generations, each with its replica 0."""
    entry = json.loads((state_dir / "workloads.json").read_text())[f"{namespace}/{workload}"]
    generation = entry["generation"] if generation is None else generation
    return next(r for r in entry["replicas"]
                if r["index"] == index and r["generation"] == generation)


def serving(port: int) -> bool:
    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200


def test_a_dead_primary_replica_makes_the_engine_wait_and_is_replaced(rollout, figures):
    kills: list[dict] = []

    def kill_primary_replica(run):
        state, ns, primary = run.platform.state_dir, run.spec.namespace, run.spec.primary_name
        run.wait_weight(10)  # from the first step: room for every attempt before max weight
        top = run.spec.analysis.effective_max_weight()
        for _ in range(ATTEMPTS):
            if run.engine.status().canary_weight >= top:
                return  # the next tick may promote: a new generation would replace the replica
            old = replica(state, ns, primary)
            just_before_the_next_tick(run)
            kill = {"killed": sigkill(old["pid"]), "pid": old["pid"], "port": old["port"]}
            kills.append(kill)

            def replaced(old=old):
                now = replica(state, ns, primary, generation=old["generation"])
                return now["pid"] != old["pid"] and serving(now["port"]) and now

            new = wait_until(replaced, timeout=REPLACE_BOUND_S, what="the replica's replacement")
            kill["replaced"], kill["new_port"] = time.time(), new["port"]
            run.wait_event(lambda e: e["action"] == "tick", since=kill["replaced"],
                           timeout=3 * run.spec.analysis.interval_s, what="the next tick")
            if any(t.waited_for(primary) for t in ticks(run.engine.events(), kill["killed"])):
                kill["seen_by_engine"] = True
                return

    obs, _ = rollout(AppVersion("v2"), kill_primary_replica, replicas=2,
                     extra_s=ATTEMPTS * REPLACE_BOUND_S)
    primary = obs.spec.primary_name
    waited = [t for t in ticks(obs.events) if t.waited_for(primary)]
    failures = [r for r in obs.records if is_failure(r.status)]
    windows = [(k["killed"], k["replaced"]) for k in kills]
    inside = [r for r in failures if any(a <= r.t <= b for a, b in windows)]
    figures("kills", len(kills))
    figures("replace_s", [round(k["replaced"] - k["killed"], 2) for k in kills])
    figures("ticks_waiting_for_primary", len(waited))
    figures("requests_failed_while_replaced", len(inside))
    figures("requests_total", len(obs.records))
    figures("failed_checks_before_the_kill", obs.status.failed_checks)
    for r in inside:
        print(f"failed {r.t - kills[0]['killed']:.3f}s after the first kill: status {r.status} "
              f"version {r.version!r} latency {r.latency_ms:.0f} ms")

    assert kills[-1].get("seen_by_engine"), f"no tick saw the primary not ready in {ATTEMPTS} kills"
    assert all(k["new_port"] == k["port"] for k in kills), "the replica came back on another port"
    for tick in waited:
        assert "step" not in tick.actions and "check_failed" not in tick.actions, tick
    assert obs.status.phase == "Succeeded", obs.explain(30)
    assert failed_since(obs.events, kills[0]["killed"]) == [], obs.explain(30)
    assert obs.weights_seen() == [0, 10, 20, 30, 40, 50, 0], obs.explain(30)
    assert len(failures) == len(inside), "requests failed outside the replacement windows"

