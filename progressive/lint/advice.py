"""The lint's warnings, each with its fix, and the causes appended to the verdict's reasons.

Called by report.py. A check is flagged when its first check after a step sees no data, given
the rollout got there, with probability above the target (1%). The fix is the smallest load,
or window, or interval (with the window at least as long) at which that first check, reached
with every earlier check passing, sees no data with probability <= the target (without a
metrics lag: an expected count of -ln(target), 4.6 requests for 1%). Windows are given in the
spec's own seconds (divided by the time scale the lint ran at).
"""

from __future__ import annotations

import math
from dataclasses import replace

from progressive.lint.model import is_rate_check, p_no_data
from progressive.lint.rollout import FIRST_ANALYSIS_TICK, Traffic, first_check_means
from progressive.model.types import CanarySpec, HookType, MetricKind, Strategy

MAX_RPS = 1e7
MAX_INTERVAL_S = 86400.0
SHORTEST_WINDOW_S = 4.0  # four 1 s Prometheus scrapes (FIELD-NOTES: shorter windows are noisy)


def pct(p: float) -> str:
    if p < 1e-9:
        return "<1e-9"
    if p < 1e-4:
        return f"{p:.1e}"
    if p < 0.01:
        return f"{p * 100:.2f}%"
    return f"{p * 100:.1f}%"


def warnings(spec: CanarySpec, traffic: Traffic, steps, time_scale: float,
             target: float) -> list[str]:
    a = spec.analysis
    out = _traffic_warnings(spec, traffic)
    for c_index, check in enumerate(a.metrics):
        if check.on_no_data != "pass":
            out.extend(_no_data_warning(spec, traffic, steps, c_index, time_scale, target))
    out.extend(_coverage_warnings(spec))
    for check in a.metrics:
        if check.interval_s < SHORTEST_WINDOW_S:
            out.append(f"{check.name}: the window is {check.interval_s:g}s at time scale "
                       f"{time_scale:g}; with scrapes about a second apart rate() is noisy or "
                       "empty in windows this short, more often than this model predicts")
    return out


def _no_data_warning(spec, traffic, steps, c_index, time_scale, target) -> list[str]:
    flagged = [s for s in steps if (s.checks[c_index].p_no_data or 0.0) > target]
    if not flagged:
        return []
    check = spec.analysis.metrics[c_index]
    worst = max(flagged, key=lambda s: s.checks[c_index].p_no_data)
    fixes = [_fix(spec, traffic, s.index - 1, check.interval_s, target) for s in flagged]
    head = (f"{check.name}: at {worst.label} and {traffic.rps:g} req/s the first check after "
            f"the step sees no request with probability {pct(worst.checks[c_index].p_no_data)}"
            f" ({len(flagged)} of {len(steps)} steps above {pct(target)})")
    options = []
    rps_needed = [f[0] for f in fixes]
    if all(r is not None for r in rps_needed):
        options.append(f"raise the load to >= {_nice_up(max(rps_needed))} req/s")
    windows = [f[1] for f in fixes]
    if all(w is not None for w in windows):
        options.append(f"the window to >= {_seconds(max(windows) / time_scale)}")
    else:
        both = [f[2] for f in fixes]
        if all(b is not None for b in both):
            what = "interval" if check.interval_s >= max(both) else "interval and the window"
            options.append(f"the {what} to >= {_seconds(max(both) / time_scale)}")
    if not options:
        return [head + "; the canary gets no traffic there: give it a load (--canary-rps "
                       "models a load tester)"]
    return [head + "; " + " or ".join(options)]


def _fix(spec: CanarySpec, traffic: Traffic, stage: int, window: float, target: float):
    """(req/s, window s, interval-and-window s) that bring the first check's P(no data) at
    `stage` down to `target`; None where that setting alone cannot."""
    a = spec.analysis

    def p_first(s: CanarySpec, t: Traffic, w: float) -> float:
        means = first_check_means(s, t, stage, w)
        return sum(map(p_no_data, means)) / len(means)

    rps = _smallest(lambda x: p_first(spec, replace(traffic, rps=x), window) <= target,
                    traffic.rps, MAX_RPS)
    reach = (FIRST_ANALYSIS_TICK + stage - 1) * a.interval_s  # traffic before this: none
    longer = _smallest(lambda w: p_first(spec, traffic, w) <= target, window, reach)

    def with_interval(t: float) -> bool:
        s = replace(spec, analysis=replace(a, interval_s=t))
        return p_first(s, traffic, max(window, t)) <= target

    both = _smallest(with_interval, a.interval_s, MAX_INTERVAL_S)
    return rps, longer, both


def _smallest(ok, lo: float, hi: float) -> float | None:
    """Smallest x in (lo, hi] with ok(x) (ok is monotone), to 0.1%; None if ok(hi) is false."""
    if not ok(hi):
        return None
    for _ in range(200):
        if hi - lo <= 1e-3 * hi:
            break
        mid = (lo + hi) / 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _traffic_warnings(spec: CanarySpec, traffic: Traffic) -> list[str]:
    a = spec.analysis
    out = []
    loaders = a.hooks(HookType.ROLLOUT) + a.hooks(HookType.PRE_ROLLOUT)
    if a.strategy is Strategy.BLUE_GREEN and a.mirror:
        out.append(f"blue-green with mirroring: the {a.iterations} iterations are judged on a "
                   f"{a.mirror_weight}% copy of production traffic")
    elif a.strategy is Strategy.BLUE_GREEN:
        if traffic.canary_rps <= 0:
            out.append(f"blue-green: the canary gets no production traffic during the "
                       f"{a.iterations} iterations (only its own address): every check sees "
                       "no data and fails unless a load tester sends it requests; give "
                       "--canary-rps")
        else:
            out.append(f"blue-green: the {a.iterations} iterations see only the "
                       f"{traffic.canary_rps:g} req/s of --canary-rps, starting with the first "
                       "analysis tick's hooks: the first check sees none of them")
    elif a.strategy is Strategy.AB_TESTING:
        out.append(f"A/B: the canary gets only the requests that match "
                   f"({traffic.match_share:.1%} of {traffic.rps:g} req/s assumed)")
    if loaders and traffic.canary_rps <= 0 and a.strategy is not Strategy.BLUE_GREEN:
        out.append(f"the spec has {len(loaders)} rollout/pre-rollout hook(s); if one is a load "
                   "tester sending requests to the canary, give --canary-rps (not counted)")
    return out


def _coverage_warnings(spec: CanarySpec) -> list[str]:
    a = spec.analysis
    if spec.skip_analysis:
        return ["skipAnalysis: the new revision is promoted without any check"]
    if not a.metrics:
        return ["no metric checks: every tick passes and any release is promoted"]
    out = []
    rate_checks = [c for c in a.metrics if is_rate_check(c)]
    if not rate_checks:
        out.append("no request-success-rate check: a release that answers errors is caught "
                   "only by custom checks, which lint does not model")
    if not any(c.kind is MetricKind.REQUEST_DURATION for c in a.metrics):
        out.append("no request-duration check: a release that is only slow is promoted")
    for c in a.metrics:
        if c.kind is MetricKind.CUSTOM:
            out.append(f"custom check {c.name}: modelled as passing whenever it sees data "
                       "(lint cannot tell what it measures)")
        if c.on_no_data == "pass":
            out.append(f"{c.name} passes when it sees no data: a canary that gets no requests "
                       "is promoted unchecked")
    return out


def no_data_cause(steps, target: float) -> str:
    worst = None
    for s in steps:
        for c in s.checks:
            if (c.p_no_data or 0.0) > target and (worst is None
                                                   or c.p_no_data > worst[1].p_no_data):
                worst = (s, c)
    if worst is None:
        return ""
    s, c = worst
    return (f"; the first {c.name} check at {s.label} sees no data with probability "
            f"{pct(c.p_no_data)}")


def weak_check_cause(steps, bad_error_rate: float) -> str:
    weak = []
    for s in steps:
        rates = [c.min_error_rate_caught for c in s.checks if c.kind ==
                 MetricKind.REQUEST_SUCCESS_RATE.value]
        if not rates:
            return "; no success-rate check can see the errors"
        caught = [r for r in rates if r is not None]
        best = min(caught) if caught else None
        if best is None or best > bad_error_rate:
            weak.append((s, best))
    if not weak:
        return ""
    s, best = max(weak, key=lambda w: math.inf if w[1] is None else w[1])
    what = "no error rate" if best is None else f"only error rates >= {pct(best)}"
    return (f"; at {s.label} the success-rate check catches {what} with 95% probability "
            f"({len(weak)} of {len(steps)} steps miss {pct(bad_error_rate)})")


def _nice_up(x: float) -> str:
    """x rounded up to two significant digits, as text."""
    if x <= 0:
        return "0"
    digits = 10 ** (math.floor(math.log10(x)) - 1)
    value = math.ceil(x / digits - 1e-9) * digits
    return f"{value:.10g}"


def _seconds(s: float) -> str:
    return f"{math.ceil(s - 1e-9):d}s" if s >= 1 else f"{s:.2g}s"
