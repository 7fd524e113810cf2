"""Prometheus SIGKILLed in the middle of the analysis, then restarted before the threshold.

Expected (SEMANTICS.md §4 steps 9-11, and "no data, an HTTP error or a timeout is a failed
check; there is no silent pass"): every tick whose metric query cannot be answered counts as a
failed check and ends without a step, so the weight never advances on missing data; a passing
tick does not reset the count. While Prometheus is down the query is refused; after a restart
the answer is "no data" until fresh samples arrive, because Prometheus hands discovered
scrape targets to its scrape loops only every 5 s (prometheus.TARGET_UPDATE_S). While the
count stays below `threshold` the run goes on from the weight it held, through every
remaining step, to Succeeded with failedChecks equal to the failed ticks.

Time scale: after a restart up to ceil(STALE_S / interval) ticks find no fresh data. At the
session's 0.1 (1.5 s ticks) that is up to 5 ticks - the seed's whole threshold - so a restart
can by itself roll the seed back (measured: 3 or 4). This test runs the seed at SCALE, where
FAILED_WHILE_DOWN + that bound stays below the threshold.
"""

from __future__ import annotations

import math
import time

import pytest
import requests
from fault_support import failed_since, sigkill, steps_between

from progressive.platforms.local.platform import SUPERVISE_EVERY_S
from progressive.platforms.local.prometheus import (
    EVALUATION_INTERVAL_S,
    READY_TIMEOUT_S,
    SCRAPE_INTERVAL_S,
    TARGET_UPDATE_S,
)
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

pytestmark = pytest.mark.integration

SCALE = 0.3  # the seed's 15 s interval becomes 4.5 s
# Room for the restart itself: the ticks after it that may find no fresh data must stay
# ceil(STALE_S / interval) even when the restart takes RESTART_ROOM_S (measured 0.06-0.18 s).
RESTART_ROOM_S = 2.0
FAILED_WHILE_DOWN = 2  # ticks that fail on a refused query before the test restarts it
# From a restart to fresh data in a query: target hand-over, two scrapes (rate() needs a new
# one), one rule evaluation.
STALE_S = TARGET_UPDATE_S + 2 * SCRAPE_INTERVAL_S + EVALUATION_INTERVAL_S


def short(message: str) -> str:
    return message if len(message) < 110 else message[:107] + "..."


def test_prometheus_killed_mid_analysis_counts_failed_checks_and_the_run_continues(
        rollout, figures):
    fault = {}

    def kill_prometheus(run):
        prometheus, interval = run.platform.prometheus, run.spec.analysis.interval_s
        threshold = run.spec.analysis.threshold
        stale_ticks = math.ceil((STALE_S + RESTART_ROOM_S) / interval)
        assert FAILED_WHILE_DOWN + stale_ticks < threshold, "pick SCALE"
        run.wait_weight(20)
        run.platform.auto_restart.discard("prometheus")  # this test restarts it itself
        try:
            killed = fault["killed"] = sigkill(prometheus.pid)
            wait_until(lambda: len(failed_since(run.engine.events(), killed)) >= FAILED_WHILE_DOWN,
                       timeout=(FAILED_WHILE_DOWN + 1) * interval,
                       what=f"{FAILED_WHILE_DOWN} failed checks while Prometheus is down")
            fault["weight_while_down"] = run.engine.status().canary_weight
            fault["restart"] = time.time()
            prometheus.restart()
            fault["ready"] = time.time()
        finally:
            run.platform.auto_restart.add("prometheus")

    # run_bound allows `threshold` failed ticks already; add the restart's own bound.
    obs, _ = rollout(AppVersion("v2"), kill_prometheus, scale=SCALE, extra_s=READY_TIMEOUT_S)
    events, killed = obs.events, fault["killed"]
    failed = failed_since(events, killed)
    for f in failed:
        print(f"{f['t'] - killed:6.2f}s after the kill: {short(f['message'])}")
    recovered = next(e["t"] for e in events if e["t"] > fault["ready"] and e["action"] == "step")
    figures("prometheus_restart_s", round(fault["ready"] - fault["restart"], 2))
    figures("failed_checks_while_down", sum(1 for f in failed if f["t"] < fault["restart"]))
    figures("failed_checks_after_restart", sum(1 for f in failed if f["t"] > fault["ready"]))
    figures("restart_to_next_step_s", round(recovered - fault["ready"], 2))

    assert obs.status.phase == "Succeeded", obs.explain(30)
    assert all("unreachable" in f["message"] for f in failed[:FAILED_WHILE_DOWN]), failed
    before = sum(1 for e in events if e["action"] == "check_failed" and e["t"] < killed)
    assert obs.status.failed_checks == before + len(failed), obs.explain(30)
    assert len(failed) >= FAILED_WHILE_DOWN
    assert fault["weight_while_down"] == 20
    assert steps_between(events, killed, recovered - 1e-6) == [], "stepped on missing data"
    late = [f for f in failed if f["t"] > fault["ready"] + STALE_S + obs.spec.analysis.interval_s]
    assert late == [], "checks still failed after Prometheus had fresh data"
    assert obs.weights_seen() == [0, 10, 20, 30, 40, 50, 0], obs.explain(30)


def test_the_platform_restarts_a_killed_prometheus_with_its_port_and_data(local_platform,
                                                                          figures):
    """Expected: the supervisor sees the dead server within SUPERVISE_EVERY_S and restarts it
    on the same URL with the same data dir, so the samples from before the kill are still
    there; scraping resumes within STALE_S of the restart."""
    prometheus = local_platform.prometheus
    url, old_pid = prometheus.url, prometheus.pid

    def query(q: str) -> list:
        answer = requests.get(f"{url}/api/v1/query", params={"query": q}, timeout=2).json()
        return answer["data"]["result"]

    wait_until(lambda: query('up{job="envoy"} == 1'), timeout=STALE_S + 5,
               what="Prometheus to scrape the gateway before the kill")
    killed = sigkill(old_pid)
    wait_until(lambda: prometheus.pid != old_pid and prometheus.is_ready(),
               timeout=SUPERVISE_EVERY_S + READY_TIMEOUT_S, what="the supervisor's restart")
    ready = time.time()
    assert prometheus.url == url
    before = query(f'count_over_time(up{{job="envoy"}}[5m] @ {killed - 0.5:.3f})')
    assert before and float(before[0]["value"][1]) > 0, "samples from before the kill are gone"
    wait_until(lambda: query(f'timestamp(up{{job="envoy"}}) > {ready:.3f}'),
               timeout=STALE_S + 5, what="a scrape after the restart")
    fresh = time.time()
    figures("prometheus_down_s", round(ready - killed, 2))
    figures("prometheus_restart_to_fresh_scrape_s", round(fresh - ready, 2))
    assert fresh - ready <= STALE_S + RESTART_ROOM_S
