"""The Envoy gateway SIGKILLed in the middle of a rollout under load.

Expected (DESIGN.md "local platform", SEMANTICS.md §4 step 4, §12):
- the platform's supervisor restarts Envoy within SUPERVISE_EVERY_S plus its start-up, on the
  same listener port, from its config files: the route file holds the weights the engine had
  set (20), so the gateway never serves 100/0 defaults, and the weights seen on the router are
  exactly the spec's sequence 0, 10, ..., 50, 0;
- while the gateway is down a tick cannot read the live weights: it ends without a step and
  without a failed check (the gateway's outage is not the canary's fault), and none is
  counted after the restart either (Envoy's counters restart at 0: rate() copes);
- only requests in flight or sent while the gateway is down fail (connection errors); none
  before the kill, none once it answers again;
- the run continues and ends Succeeded.
"""

from __future__ import annotations

import time

import pytest
import requests
from fault_support import failed_since, sigkill, steps_between

from progressive.load.recording import is_failure
from progressive.platforms.local.envoy import READY_TIMEOUT_S
from progressive.platforms.local.platform import SUPERVISE_EVERY_S
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

pytestmark = pytest.mark.integration

RECOVERY_GUARD_S = 0.5  # a request completing this soon after "answers again" may have started before


def test_gateway_killed_mid_rollout_comes_back_with_the_engines_weights(rollout, figures):
    fault = {}

    def kill_gateway(run):
        gateway = run.platform.gateway
        run.wait_weight(20)
        old_pid, url = gateway.pid, gateway.listener_url
        fault["killed"] = sigkill(old_pid)

        def answers():
            requests.get(url + "/healthz", timeout=0.5)
            return gateway.pid != old_pid

        wait_until(answers, timeout=SUPERVISE_EVERY_S + READY_TIMEOUT_S, poll=0.02,
                   max_poll=0.05, what="the gateway to answer again")
        fault["back"] = time.time()
        fault["url_after"] = gateway.listener_url
        fault["url_before"] = url

    obs, _ = rollout(AppVersion("v2"), kill_gateway, extra_s=SUPERVISE_EVERY_S + READY_TIMEOUT_S)
    killed, back = fault["killed"], fault["back"]
    failures = [r for r in obs.records if is_failure(r.status)]
    inside = [r for r in failures if killed <= r.t <= back + RECOVERY_GUARD_S]
    sent = obs.records.between(killed, back + RECOVERY_GUARD_S)
    figures("gateway_down_s", round(back - killed, 3))
    figures("requests_failed_during_restart", len(inside))
    figures("requests_completed_during_restart", len(sent))
    figures("requests_total", len(obs.records))
    figures("failed_checks_before_the_kill", obs.status.failed_checks)
    figures("tick_errors_while_down", sum(1 for e in obs.events if e["action"] == "wait"
                                          and killed <= e["t"] <= back))

    assert obs.status.phase == "Succeeded", obs.explain(30)
    assert failed_since(obs.events, killed) == [], obs.explain(30)
    assert fault["url_after"] == fault["url_before"], "the gateway moved to another port"
    assert obs.weights_seen() == [0, 10, 20, 30, 40, 50, 0], obs.explain(30)
    assert steps_between(obs.events, killed, back) == [], "stepped while the gateway was down"
    assert len(failures) == len(inside), (
        f"{len(failures) - len(inside)} requests failed outside the restart window")
