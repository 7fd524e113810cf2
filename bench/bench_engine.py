"""Benchmark the bundled engine: rollout wall time, rollback detection latency, CPU per tick.

    python bench/bench_engine.py               prints a markdown table | metric | value | target |
    from bench.bench_engine import run         rows for bench/run.py

(a) The seed Canary (time scale 0.1, interval 1.5 s) promotes v2 on a real local platform
(Envoy, Prometheus, Croc Hunter, Locust at 100 req/s), through progressive.rollout.run_canary
as `progressive rollout` runs it. Wall time from the new revision on the target to Succeeded,
against the theoretical minimum of bounds.rollout_bounds (ticks x interval).
(b) v3 with 20% errors is rolled back: from the start of the first failed v3 request (Locust's
records) to routes back at 100/0 (the engine's `rollback` event, recorded once Envoy confirmed
the route), against bounds.rollback_bound. The last v3 answer on the wire is given as well.
ROLLBACKS bad rollouts give the spread: the first check after the first error misses it when
Prometheus has not yet seen a second sample of the new 5xx series (rate() takes a series'
first sample as its start, as with Istio's own metrics), and the rollback is one interval later.
(c) Engine CPU per tick: the engine thread's CPU time (time.thread_time) around each tick of
(a) on the real platform, and time.process_time around ticks of an Engine on in-process fakes
(FakeClock, no I/O), which is the loop's own cost.
Missing a target is a result, not an error.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchtable import markdown_table  # noqa: E402 - bench/ is on sys.path

from progressive.clock import FakeClock
from progressive.engine import Engine, EventLog, MemoryStateStore, Phase
from progressive.engine.bounds import rollback_bound, rollout_bounds
from progressive.model.validate import load_spec
from progressive.rollout import RolloutOptions, run_canary
from progressive.routing.base import Routes
from progressive.workloads.base import AppVersion, Readiness

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "specs" / "seed-canary.yaml"
TIME_SCALE = 0.1
RPS = 100
FAKE_ROLLOUTS = 200
TARGET_WALL_RATIO = 1.25  # wall time / theoretical minimum
TARGET_CPU_FAKES_MS = 1.0
ROLLBACKS = 5  # bad rollouts: detection depends on where the first error falls between ticks
TARGET_CPU_REAL_MS = 10.0  # issue 14

Row = tuple[str, str, str]


# -- fakes at the engine's seams (no I/O: the loop's own cost) -------------------------------


class _Router:
    def __init__(self):
        self.routes = Routes(100, 0, False)

    def reconcile(self, canary):
        pass

    def set_routes(self, canary, primary, canary_w, mirrored=False):
        self.routes = Routes(primary, canary_w, mirrored)

    def get_routes(self, canary):
        return self.routes

    def finalize(self, canary):
        pass


class _Metrics:
    def run_query(self, promql):
        return 99.9 if "5.*" in promql else 120.0

    def is_online(self):
        return True


class _Workloads:
    def __init__(self):
        self.apps: dict[str, AppVersion] = {}
        self.counts: dict[str, int] = {}

    def deploy(self, name, app, replicas=None):
        self.apps[name] = app
        self.counts[name] = self.counts.get(name, 1) if replicas is None else replicas

    def scale(self, name, replicas):
        self.counts[name] = replicas

    def is_ready(self, name):
        return Readiness(self.counts.get(name, 0) > 0)

    def spec_hash(self, name):
        return self.apps[name].spec_hash() if name in self.apps else None

    def app(self, name):
        return self.apps.get(name)

    def replicas(self, name):
        return self.counts.get(name, 0)


def cpu_per_tick_on_fakes(rollouts: int = FAKE_ROLLOUTS) -> list[float]:
    """process_time of each tick of `rollouts` healthy seed rollouts on fakes."""
    spec = load_spec(SEED)
    samples = []
    for _ in range(rollouts):
        clock, workloads = FakeClock(), _Workloads()
        workloads.deploy(spec.target, AppVersion("v1"), 1)
        engine = Engine(spec, _Router(), _Metrics(), workloads, clock, MemoryStateStore(),
                        EventLog())
        engine.tick()
        workloads.deploy(spec.target, AppVersion("v2"))
        while True:
            t0 = time.process_time()
            state = engine.tick()
            samples.append(time.process_time() - t0)
            clock.sleep(spec.analysis.interval_s)
            if state.phase in (Phase.SUCCEEDED, Phase.FAILED):
                break
        assert state.phase is Phase.SUCCEEDED, state
    return samples


# -- the real platform -----------------------------------------------------------------------


class MeteredEngine(Engine):
    """The bundled engine with its thread's CPU time measured around every tick."""

    last: MeteredEngine | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tick_cpu_s: list[float] = []
        MeteredEngine.last = self

    def tick(self):
        cpu = time.thread_time()
        try:
            return super().tick()
        finally:
            self.tick_cpu_s.append(time.thread_time() - cpu)


def detection_s(result) -> float | None:
    """First failed request of the bad release -> the rollback event (routes back at 100/0)."""
    rollback = next((e["t"] for e in result.events if e["action"] == "rollback"), None)
    first_bad = result.traffic.first_failure_of_new if result.traffic else None
    return None if rollback is None or first_bad is None else rollback - first_bad


def measure(rollbacks: int = ROLLBACKS) -> dict:
    spec = load_spec(SEED)
    scaled = spec.scaled(TIME_SCALE)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        good = run_canary(spec, RolloutOptions("v2", rps=RPS, time_scale=TIME_SCALE,
                                               state_dir=Path(tmp) / "good"),
                          engine_class=MeteredEngine)
        assert MeteredEngine.last is not None
        good_cpu = MeteredEngine.last.tick_cpu_s[-good.ticks:]  # the ticks after the trigger
        bad = run_canary(spec, RolloutOptions("v3", error_rate=0.2, rps=RPS,
                                              time_scale=TIME_SCALE, state_dir=Path(tmp) / "bad"))
        more = [run_canary(spec, RolloutOptions("v3", error_rate=0.2, rps=RPS,
                                                time_scale=TIME_SCALE,
                                                state_dir=Path(tmp) / f"bad-{i}"))
                for i in range(1, rollbacks)]
    rollback_t = next((e["t"] for e in bad.events if e["action"] == "rollback"), None)
    first_failed_check = next((e["t"] for e in bad.events
                               if e["action"] == "check_failed" and e["t"] >= bad.triggered_at),
                              None)
    return {
        "good": good, "good_cpu": good_cpu, "bad": bad, "fakes": cpu_per_tick_on_fakes(),
        "min_s": rollout_bounds(scaled)[0], "rollback_bound_s": rollback_bound(scaled),
        "rollback_t": rollback_t, "first_failed_check_t": first_failed_check,
        "detections": [d for d in map(detection_s, [bad, *more]) if d is not None],
    }


def rows(m: dict) -> list[Row]:
    good, bad = m["good"], m["bad"]
    out: list[Row] = []
    ratio = good.duration_s / m["min_s"]
    out.append((f"seed rollout wall time, time scale {TIME_SCALE:g}, {RPS} req/s "
                f"({good.phase}, {good.ticks} ticks, {good.failed_checks} failed checks)",
                f"{good.duration_s:.1f} s = {ratio:.2f} x min {m['min_s']:.1f} s",
                f"<= {TARGET_WALL_RATIO:g} x min"))
    bound = m["rollback_bound_s"]
    first_bad = bad.traffic.first_failure_of_new if bad.traffic else None
    if m["rollback_t"] is None or first_bad is None:
        out.append(("rollback detection (first bad request -> routes 100/0)",
                    f"not measured: {bad.verdict}", f"<= {bound:.1f} s"))
    else:
        latency = m["rollback_t"] - first_bad
        out.append(("rollback detection: first bad request -> routes 100/0 (rollback event)",
                    f"{latency:.2f} s = {latency / bound:.2f} x bound", f"<= {bound:.1f} s"))
        last = bad.traffic.last_answer_of_new
        if last is not None:
            out.append(("rollback detection: first bad request -> last v3 answer on the wire",
                        f"{last - first_bad:.2f} s = {(last - first_bad) / bound:.2f} x bound",
                        f"<= {bound:.1f} s"))
        if m["first_failed_check_t"] is not None:
            from_check = m["rollback_t"] - m["first_failed_check_t"]
            out.append(("rollback: first failed check -> rollback event", f"{from_check:.2f} s",
                        f"threshold x interval = {bound - scaled_interval(bad):.1f} s"))
    if len(m["detections"]) > 1:
        ratios = sorted(d / bound for d in m["detections"])
        out.append((f"rollback detection / bound over {len(ratios)} bad rollouts: median, max",
                    f"{statistics.median(ratios):.2f}, {ratios[-1]:.2f} (all: "
                    f"{', '.join(f'{r:.2f}' for r in ratios)})", "<= 1.0"))
    ticks = [e["t"] for e in bad.events if e["action"] == "tick" and e["t"] >= bad.triggered_at]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    if gaps:
        out.append(("tick spacing during the rollback run",
                    f"mean {statistics.mean(gaps):.2f} s, max {max(gaps):.2f} s",
                    f"interval {scaled_interval(bad):.1f} s"))
    out.append(("failed requests not from the bad release during its rollback",
                str(bad.traffic.failed_not_new if bad.traffic else "-"), "0"))
    real = [s * 1000 for s in m["good_cpu"]]
    out.append((f"engine CPU per tick, real platform (engine thread, {len(real)} ticks)",
                f"mean {statistics.mean(real):.1f} ms, max {max(real):.1f} ms",
                f"< {TARGET_CPU_REAL_MS:g} ms"))
    fakes = [s * 1000 for s in m["fakes"]]
    out.append((f"engine CPU per tick, fakes (process_time, {len(fakes)} ticks)",
                f"mean {statistics.mean(fakes):.3f} ms, p99 "
                f"{sorted(fakes)[int(0.99 * (len(fakes) - 1))]:.3f} ms",
                f"< {TARGET_CPU_FAKES_MS:g} ms"))
    return out


def scaled_interval(result) -> float:
    return result.spec.analysis.interval_s


def run(rollbacks: int = ROLLBACKS) -> list[Row]:
    """The benchmark's rows `(metric, value, target)`, for this script and bench/run.py."""
    return rows(measure(rollbacks))




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rollbacks", type=int, default=ROLLBACKS, help="bad rollouts to time")
    print(markdown_table(run(p.parse_args(argv).rollbacks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
