"""The lint's warnings, each with its fix, and the causes appended to the verdict's reasons.

Called by report.py. The fix for a check that too often sees no data is the load, or the
window, at which its first check after a step expects enough requests that
exp(-mean) < the no-data target, i.e. mean >= -ln(target) (4.6 requests for 1%). Windows are
given in the spec's own seconds (divided by the time scale the lint ran at).
"""

from __future__ import annotations

import math

from progressive.lint.chain import (
    FIRST_ANALYSIS_TICK,
    MAX_HISTORY,
    Traffic,
    history_length,
    interval_rate,
    nominal_history,
    stages,
)
from progressive.lint.model import is_rate_check, window_mean
from progressive.model.types import CanarySpec, HookType, MetricKind, Strategy

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
                       f"{time_scale:g}, under four 1s Prometheus scrapes: rate() is noisy or "
                       "empty there, more often than this model predicts")
    if history_length(spec) > MAX_HISTORY:
        out.append(f"the longest window spans more than {MAX_HISTORY} intervals: the odds are "
                   "approximate (older intervals taken at the lowest possible weight)")
    return out


def _no_data_warning(spec, traffic, steps, c_index, time_scale, target) -> list[str]:
    flagged = [s for s in steps if s.checks[c_index].p_no_data > target]
    if not flagged:
        return []
    check = spec.analysis.metrics[c_index]
    worst = max(flagged, key=lambda s: s.checks[c_index].p_no_data)
    need = -math.log(target)
    fixes = [_fix(spec, traffic, s.index - 1, check.interval_s, need) for s in flagged]
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
            options.append(f"the interval and the window to >= "
                           f"{_seconds(max(both) / time_scale)}")
    if not options:
        return [head + "; the canary gets no traffic there: give it a load (--canary-rps "
                       "models a load tester)"]
    return [head + "; " + " or ".join(options)]


def _fix(spec: CanarySpec, traffic: Traffic, stage: int, window: float, need: float):
    """(req/s, window s, interval-and-window s) that bring the first check's mean to `need`."""
    a = spec.analysis
    plan = stages(spec, traffic)
    tick = FIRST_ANALYSIS_TICK + stage
    hist = nominal_history(stage, tick - 1)  # every interval since detection
    shares = [plan[s].share if s >= 0 else 0.0 for s in hist]
    direct = [interval_rate(s, tick - j, plan, traffic) - traffic.rps * shares[j]
              for j, s in enumerate(hist)]
    per_rps = window_mean(window, a.interval_s, shares)
    base = window_mean(window, a.interval_s, direct)
    rps = max(0.0, (need - base) / per_rps) if per_rps > 0 else None
    rates = [traffic.rps * sh + d for sh, d in zip(shares, direct, strict=True)]
    longer, seen = None, 0.0
    for j, r in enumerate(rates):
        if r > 0 and seen + r * a.interval_s >= need:
            longer = j * a.interval_s + (need - seen) / r
            break
        seen += r * a.interval_s
    both = need / rates[0] if rates and rates[0] > 0 else None
    return rps, longer, both


def _traffic_warnings(spec: CanarySpec, traffic: Traffic) -> list[str]:
    a = spec.analysis
    out = []
    loaders = a.hooks(HookType.ROLLOUT) + a.hooks(HookType.PRE_ROLLOUT)
    if a.strategy is Strategy.BLUE_GREEN:
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
    if len(rate_checks) > 1:
        out.append(f"{len(rate_checks)} success-rate checks: their verdicts are treated as "
                   "independent (an approximation; they count the same requests)")
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
            if c.p_no_data > target and (worst is None or c.p_no_data > worst[1].p_no_data):
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
