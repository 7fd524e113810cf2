"""One run never sees another's data: commands back to back in one state dir, as a user runs them.

Each test runs `progressive` commands in one state dir with no pause between them, on a
platform each command starts for itself ("fresh") or on one started by `progressive up`
("attached"), and checks that every run is judged as it would be on a new state dir: its
verdict, its rollback time against the spec's bound, and, read from Prometheus itself, that no
sample of the run's namespace is older than the run. That last check is what an engine's own
queries (Flagger's carry no label of ours) would read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cli_support import REPO, SEED, START_ALLOWANCE_S, TIME_SCALE, run_bound_s

from progressive.engine.bounds import rollback_bound
from progressive.engine.events import read_events
from progressive.model.validate import load_spec
from progressive.platforms.local.platform import METRICS_FLOW_TIMEOUT_S

pytestmark = pytest.mark.integration

NAMESPACE = "jx-production"  # the seed Canary's
SPECS = REPO / "fixtures" / "specs"
LOAD = ("--time-scale", str(TIME_SCALE), "--rps", "100")
SPEC = load_spec(SEED).scaled(TIME_SCALE)
# A canary answering errors fails every check from the first after the first step (its own
# success rate over the window): rolled back within the spec's bound from that check, which
# comes one interval after the step; one more interval for the ticks' scheduling on a loaded
# machine (each tick starts an interval after the previous one ended).
DETECTION_BOUND_S = rollback_bound(SPEC) + 2 * SPEC.analysis.interval_s


def progressive(state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=START_ALLOWANCE_S, cwd=REPO)


@pytest.fixture(params=["fresh", "attached"])
def state(request, tmp_path):
    """A state dir; with "attached", `progressive up` has started its platform."""
    state = tmp_path / "state"
    if request.param == "attached":
        done = progressive(state, "up")
        assert done.returncode == 0, done.stderr
        request.addfinalizer(lambda: progressive(state, "down"))
    return state


def prometheus_url(state: Path) -> str:
    return json.loads((state / "platform.json").read_text())["prometheus_url"]


def samples_before(url: str, t0: float) -> list[str]:
    """The series of NAMESPACE (raw gateway series, Istio-named ones, the apps') holding a sample
    older than t0, read as raw samples of the last 15 minutes."""
    old = []
    for selector in (f'{{envoy_cluster_name=~"{NAMESPACE}_.+"}}',
                     f'{{destination_workload_namespace="{NAMESPACE}"}}',
                     f'{{job="apps", namespace="{NAMESPACE}"}}'):
        answer = requests.get(f"{url}/api/v1/query", params={"query": f"{selector}[15m]"},
                              timeout=10).json()
        assert answer["status"] == "success", answer
        for series in answer["data"]["result"]:
            first = min(float(t) for t, _ in series["values"])
            if first < t0:
                labels = series["metric"]
                old.append(f"{labels.get('__name__')} {labels} from {t0 - first:.1f} s before")
    return old


def first_event(run, action: str) -> dict:
    return next(e for e in read_events(run.events) if e["action"] == action)


def test_a_healthy_rollout_right_after_a_failed_one_is_judged_on_its_own_requests(rollout, state):
    bad = rollout(str(SEED), "--to", "v2", "--error-rate", "1", *LOAD, state=state)
    assert bad.wait(timeout=run_bound_s()) == 1, bad.out + bad.err
    assert "rolled back" in bad.err

    good = rollout(str(SEED), "--to", "v3", *LOAD, state=state)
    good.wait_for_event(lambda e: e["action"] == "step", timeout=run_bound_s())
    url = prometheus_url(state)
    assert samples_before(url, good.started) == []
    assert good.wait(timeout=run_bound_s()) == 0, good.out + good.err
    verdict = good.out.strip().splitlines()[-1]
    assert verdict.startswith(f"promoted {SPEC.target} to v3 in "), good.out
    assert ", 0 failed checks, " in verdict, verdict
    if (state / "platform.json").exists():  # attached: still up, and still clean
        assert samples_before(url, good.started) == []
    assert "Traceback" not in bad.err + good.err
    assert good.leftovers() == [] or (state / "platform.json").exists()


def test_a_bad_rollout_after_a_good_one_is_rolled_back_within_the_spec_bound(rollout, state):
    good = rollout(str(SEED), "--to", "v2", *LOAD, state=state)
    assert good.wait(timeout=run_bound_s()) == 0, good.out + good.err

    bad = rollout(str(SEED), "--to", "v3", "--error-rate", "0.3", *LOAD, state=state)
    bad.wait_for_event(lambda e: e["action"] == "step", timeout=run_bound_s())
    assert samples_before(prometheus_url(state), bad.started) == []
    assert bad.wait(timeout=run_bound_s()) == 1, bad.out + bad.err
    events = read_events(bad.events)
    step, rollback = first_event(bad, "step"), first_event(bad, "rollback")
    took = rollback["t"] - step["t"]
    assert took <= DETECTION_BOUND_S, f"rolled back {took:.1f} s after the first step"
    # Judged on its own requests only: no check passed between the first step and the
    # rollback (an earlier run's healthy samples in the window would pass some), and exactly
    # `threshold` failed.
    success_rate = SPEC.analysis.metrics[0].name  # the seed's istio_requests_total check
    checks = [e["action"] for e in events if step["t"] <= e["t"] <= rollback["t"]
              and e["action"] in ("check", "check_failed")
              and e["message"].startswith(success_rate)]
    assert "check" not in checks[checks.index("check_failed"):], checks
    assert max(e["failedChecks"] for e in events) == SPEC.analysis.threshold
    assert "Traceback" not in good.err + bad.err


def test_a_rollout_killed_mid_run_is_cleaned_up_by_the_next(rollout, tmp_path):
    state = tmp_path / "state"
    killed = rollout(str(SEED), "--to", "v2", *LOAD, state=state)
    killed.wait_for_event(lambda e: e["action"] == "step", timeout=run_bound_s())
    killed.kill()  # SIGKILL: no teardown of its own

    again = rollout(str(SEED), "--to", "v2", *LOAD, state=state)
    assert again.wait(timeout=run_bound_s()) == 0, again.out + again.err
    assert again.out.strip().splitlines()[-1].startswith(f"promoted {SPEC.target} to v2 in ")
    assert "Traceback" not in again.err
    assert killed.leftovers() == [] and again.leftovers() == []


def test_preview_shipper_blue_green_then_the_seed_canary_in_one_state_dir(rollout, tmp_path):
    """The sequence a new user tried, which once left every later rollout stuck on stale
    gateway series: each command behaves as on a fresh state dir."""
    state = tmp_path / "state"
    for vs in ("seed-virtualservice-fixed.yaml", "virtualservice-header-route.yaml"):
        done = progressive(state, "preview", str(SPECS / vs), "--requests", "4000")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OUT OF BOUNDS" not in done.stdout
    shipper = rollout(str(SPECS / "application-shipper.yaml"), "--to", "v2", "--time-scale",
                      "0.02", "--replicas", "1", state=state)
    assert shipper.wait(timeout=START_ALLOWANCE_S) == 0, shipper.err
    assert "released croc-hunter v2: step 2 (full on) reached in " in shipper.out
    blue_green = rollout(str(SPECS / "canary-blue-green.yaml"), "--to", "v2", *LOAD, state=state)
    assert blue_green.wait(timeout=run_bound_s(SPECS / "canary-blue-green.yaml")) == 0, \
        blue_green.err
    seed = rollout(str(SEED), "--to", "v2", *LOAD, state=state)
    assert seed.wait(timeout=run_bound_s()) == 0, seed.out + seed.err
    verdict = seed.out.strip().splitlines()[-1]
    assert ", 0 failed checks, " in verdict and verdict.endswith(" 0 failed)"), verdict
    runs = (shipper, blue_green, seed)
    assert all("Traceback" not in r.err for r in runs)
    assert all(r.leftovers() == [] for r in runs)


def test_a_metrics_wait_that_times_out_says_what_it_saw_without_a_traceback(rollout, tmp_path):
    """A Prometheus that cannot scrape the gateway (its target moved to a closed port)."""
    state = tmp_path / "state"
    done = progressive(state, "up")
    assert done.returncode == 0, done.stderr
    try:
        targets = state / "prometheus" / "targets"
        tmp = targets / ".envoy.json.tmp"
        tmp.write_text(json.dumps([{"targets": ["127.0.0.1:9"], "labels": {}}]))
        tmp.replace(targets / "envoy.json")  # file discovery reads whole files only

        run = rollout(str(SEED), "--to", "v2", *LOAD, state=state)
        assert run.wait(timeout=METRICS_FLOW_TIMEOUT_S + START_ALLOWANCE_S) == 2, run.out
    finally:
        progressive(state, "down")
    assert "Traceback" not in run.err, run.err
    assert (f"timed out after {METRICS_FLOW_TIMEOUT_S:.1f} s waiting for Prometheus' first "
            "scrape of the gateway") in run.err
    assert "last seen: " in run.err and "try: Prometheus must reach Envoy's admin port" in run.err
    assert f"logs: {(state / 'logs').resolve()}" in run.err.replace("\n", "")
