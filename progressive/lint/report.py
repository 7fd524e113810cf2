"""`lint(spec, rps, ...) -> LintReport`: will this rollout spec flake, can it catch a bad release?

Called by the `progressive lint` command (progressive/commands/lint.py), and by suites or
`rollout` that want the odds before they start. The figures come from the model in model.py
(what one check sees) and chain.py (the rollout as a chain of ticks); this module assembles
them per step, writes the warnings with their fix, and gives the verdict:
ok when P(a good release is rolled back) <= max_false_rollback and P(a bad release is
promoted) <= max_bad_promotion. A release without errors gets exact odds (chain.py); one with
errors gets a seeded Monte Carlo estimate (montecarlo.py), judged on its point estimate and
reported with its 95% interval. Rendering is in render.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from progressive.engine.bounds import rollout_bounds
from progressive.errors import UserError
from progressive.lint import advice
from progressive.lint.chain import no_data_chain
from progressive.lint.model import check_fail, min_error_rate_caught, p_no_data
from progressive.lint.montecarlo import DEFAULT_RUNS, DEFAULT_SEED, simulate
from progressive.lint.rollout import (
    FIRST_ANALYSIS_TICK,
    ChainResult,
    Traffic,
    first_check_means,
    interval_rate,
    stages,
)
from progressive.model.types import CanarySpec, Strategy
from progressive.stats import wilson_interval

SCHEMA = "progressive.lint/v1"
POWER = 0.95  # "catches" means fails the check with at least this probability


@dataclass
class CheckFigures:
    name: str
    kind: str
    bound: float | None  # the check's min (success rate) or max (duration, custom)
    window_s: float
    # the first check after the step, when every earlier check passed:
    expected_requests: float  # expected canary requests in the window
    p_no_data_window: float  # P(none of them): exp(-expected_requests) without a metrics lag
    p_fail_good: float  # P(a good release fails this check there)
    min_error_rate_caught: float | None  # success-rate checks: caught with >= 95%
    # P(the first check at this step sees no request | the rollout got here), any path;
    # None when no rollout gets here. Lower than p_no_data_window after a passing check.
    p_no_data: float | None
    expected_requests_held: float  # once the step has held for the whole window
    p_no_data_held: float


@dataclass
class StepFigures:
    index: int
    label: str
    weight: int
    share: float
    tick: int  # tick of the first check at this step, counted from detection (tick 1)
    canary_rps: float  # canary requests per second while this step holds
    p_reached: float  # P(a release without errors gets to this step)
    checks: list[CheckFigures] = field(default_factory=list)


@dataclass
class LintReport:
    name: str
    namespace: str
    strategy: str
    interval_s: float
    threshold: int
    inputs: dict
    steps: list[StepFigures]
    good: dict
    bad: dict
    durations: dict
    warnings: list[str]
    reasons: list[str]

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = {"ok": self.ok, "exit_code": self.exit_code, "reasons": self.reasons}
        del data["reasons"]
        return _finite(data)


def lint(spec: CanarySpec, rps: float, *, error_rate: float = 0.0,
         bad_error_rate: float = 0.05, time_scale: float = 1.0, canary_rps: float = 0.0,
         match_share: float | None = None, metrics_lag_s: float = 0.0,
         max_false_rollback: float = 0.01, max_bad_promotion: float = 0.05,
         no_data_target: float = 0.01, runs: int = DEFAULT_RUNS,
         seed: int = DEFAULT_SEED) -> LintReport:
    """The odds of `spec` at `rps` production req/s (see the module docstring for the verdict).

    `time_scale` multiplies every duration of the spec first (as `rollout` does); the other
    options are the CLI's (progressive/commands/lint.py). Raises UserError for a bad input.
    """
    _check_inputs(spec, rps, error_rate, bad_error_rate, time_scale, canary_rps, match_share,
                  max_false_rollback, max_bad_promotion, no_data_target, runs)
    run_spec = spec.scaled(time_scale) if time_scale != 1.0 else spec
    if not (math.isfinite(metrics_lag_s) and 0 <= metrics_lag_s < run_spec.analysis.interval_s):
        raise UserError(f"lint: --metrics-lag must be at least 0 and shorter than the interval "
                        f"({run_spec.analysis.interval_s:g}s), got {metrics_lag_s!r}")
    traffic = Traffic(rps, canary_rps, match_share, metrics_lag_s)
    a = run_spec.analysis
    error_free = no_data_chain(run_spec, traffic)
    steps = step_figures(run_spec, traffic, error_rate, error_free)
    good = error_free if error_rate <= 0 else odds(run_spec, traffic, error_rate, runs, seed)
    bad = odds(run_spec, traffic, bad_error_rate, runs, seed)
    durations = _durations(run_spec, good, bad)
    inputs = {"rps": rps, "canary_rps": canary_rps, "match_share": match_share,
              "error_rate": error_rate, "bad_error_rate": bad_error_rate,
              "time_scale": time_scale, "metrics_lag_s": metrics_lag_s,
              "no_data_target": no_data_target,
              "max_false_rollback": max_false_rollback, "max_bad_promotion": max_bad_promotion}
    good_d = {"error_rate": error_rate, **_method(good),
              "p_rolled_back": good.p_rolled_back,
              "p_rolled_back_95": _interval(good, good.p_rolled_back),
              "p_promoted": good.p_promoted,
              "expected_failed_checks_if_promoted": good.mean_failures_if_promoted,
              "expected_duration_s": durations["nominal_rollout_s"]
              + good.mean_failures_if_promoted * a.interval_s}
    bad_d = {"error_rate": bad_error_rate, **_method(bad),
             "p_promoted": bad.p_promoted,
             "p_promoted_95": _interval(bad, bad.p_promoted),
             "p_rolled_back": bad.p_rolled_back,
             "expected_rollback_s": durations["expected_bad_rollback_s"]}
    warnings = advice.warnings(run_spec, traffic, steps, time_scale, no_data_target)
    reasons = []
    if good.p_rolled_back > max_false_rollback:
        reasons.append(
            f"a good release (error rate {error_rate:.2%}) is rolled back for nothing with "
            f"probability {advice.pct(good.p_rolled_back)} (limit {advice.pct(max_false_rollback)})"
            + advice.no_data_cause(steps, no_data_target))
    if bad.p_promoted > max_bad_promotion:
        reasons.append(
            f"a bad release (error rate {bad_error_rate:.2%}) is promoted anyway with "
            f"probability {advice.pct(bad.p_promoted)} (limit {advice.pct(max_bad_promotion)})"
            + advice.weak_check_cause(steps, bad_error_rate))
    return LintReport(spec.name, spec.namespace, a.strategy.value, a.interval_s,
                      max(1, a.threshold), inputs, steps, good_d, bad_d, durations, warnings,
                      reasons)


def odds(spec: CanarySpec, traffic: Traffic, error_rate: float, runs: int = DEFAULT_RUNS,
         seed: int = DEFAULT_SEED) -> ChainResult:
    """P(promotion) of a release with `error_rate`: exact without errors, else sampled."""
    if error_rate <= 0.0:
        return no_data_chain(spec, traffic)
    return simulate(spec, traffic, error_rate, runs=runs, seed=seed)


def _method(chain: ChainResult) -> dict:
    return {"method": chain.method, "runs": chain.runs, "seed": chain.seed}


def _interval(chain: ChainResult, p: float) -> list[float] | None:
    """95% Wilson interval of a sampled probability (None when exact)."""
    if chain.method == "exact":
        return None
    k = round(p * chain.runs)
    return list(wilson_interval(k, chain.runs, 0.95))


def step_figures(spec: CanarySpec, traffic: Traffic, error_rate: float,
                 error_free: ChainResult) -> list[StepFigures]:
    """Each stage's first check: on the nominal path, and given the rollout got there."""
    plan = stages(spec, traffic)
    out = []
    for i, stage in enumerate(plan):
        tick = FIRST_ANALYSIS_TICK + i
        steady = interval_rate(i, tick + 1, plan, traffic)  # once the step has held
        step = StepFigures(i + 1, stage.label, stage.weight, stage.share, tick, steady,
                           error_free.reached.get(i, 0.0))
        for c in spec.analysis.metrics:
            means = first_check_means(spec, traffic, i, c.interval_s)
            held = steady * c.interval_s
            step.checks.append(CheckFigures(
                c.name, c.kind.value, c.min if c.min is not None else c.max, c.interval_s,
                sum(means) / len(means),
                sum(map(p_no_data, means)) / len(means), check_fail(means, error_rate, c),
                min_error_rate_caught(means, c, POWER),
                error_free.p_no_data_on_arrival(i, c.interval_s), held, p_no_data(held)))
        out.append(step)
    return out


def _durations(spec: CanarySpec, good: ChainResult, bad: ChainResult) -> dict:
    a = spec.analysis
    threshold = max(1, a.threshold)
    earliest_tick = FIRST_ANALYSIS_TICK + threshold  # every check fails: rollback at this tick
    bad_tick = bad.mean_rollback_tick
    return {
        "interval_s": a.interval_s,
        "nominal_rollout_s": rollout_bounds(spec)[0],
        "earliest_rollback_s": (earliest_tick - 1) * a.interval_s,
        "expected_bad_rollback_s": (bad_tick - 1) * a.interval_s if not math.isnan(bad_tick)
        else None,
    }


def _check_inputs(spec, rps, error_rate, bad_error_rate, time_scale, canary_rps, match_share,
                  max_false_rollback, max_bad_promotion, no_data_target, runs) -> None:
    problems = [] if runs >= 100 else [f"runs must be at least 100, got {runs}"]
    for name, value, lo, hi in (
        ("--rps", rps, 0.0, math.inf), ("--canary-rps", canary_rps, 0.0, math.inf),
        ("--error-rate", error_rate, 0.0, 1.0), ("--bad-error-rate", bad_error_rate, 0.0, 1.0),
        ("--max-false-rollback", max_false_rollback, 0.0, 1.0),
        ("--max-bad-promotion", max_bad_promotion, 0.0, 1.0),
    ):
        if not (isinstance(value, int | float) and lo <= value <= hi and math.isfinite(value)):
            problems.append(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    if not (math.isfinite(time_scale) and time_scale > 0):
        problems.append(f"--time-scale must be a positive number, got {time_scale!r}")
    if not 0.0 < no_data_target < 1.0:
        problems.append(f"the no-data target must be between 0 and 1, got {no_data_target!r}")
    if match_share is not None and not 0.0 < match_share <= 1.0:
        problems.append(f"--match-share must be in (0, 1], got {match_share!r}")
    if spec.analysis.strategy is Strategy.AB_TESTING and match_share is None:
        problems.append(f"canary {spec.name} is an A/B test: give --match-share, the share of "
                        "requests that match its headers or cookie (e.g. 0.05)")
    if problems:
        raise UserError("lint: " + "; ".join(problems))


def _finite(value):
    """JSON has no NaN/inf: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
