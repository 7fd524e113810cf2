"""The terminal view of a LintReport: one table row per step and check, the odds, the verdict.

Called by progressive/commands/lint.py.
"""

from __future__ import annotations

from rich.console import Console, JustifyMethod
from rich.table import Table

from progressive.lint.advice import pct
from progressive.lint.report import LintReport
from progressive.model.types import MetricKind

_CAPTION = (
    "First check after each step: expected canary requests in its window and P(none); "
    "if reached: given the rollout got there; held: once the weight has held a whole window; "
    "catches: smallest error rate that fails the success-rate check with 95% probability.")


def render(report: LintReport, console: Console) -> None:
    i = report.inputs
    load = f"{i['rps']:g} req/s"
    if i["canary_rps"]:
        load += f" + {i['canary_rps']:g} req/s straight to the canary"
    if i["match_share"] is not None:
        load += f", {i['match_share']:.1%} matching"
    scale = f", time scale {i['time_scale']:g}" if i["time_scale"] != 1.0 else ""
    if i["metrics_lag_s"]:
        scale += f", metrics up to {i['metrics_lag_s']:g}s late"
    console.print(f"[bold]{report.namespace}/{report.name}[/] ({report.strategy}, every "
                  f"{report.interval_s:g}s, threshold {report.threshold}) at {load}{scale}",
                  highlight=False)
    table = Table(show_lines=False, header_style="bold", caption=_CAPTION,
                  caption_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("step", "left"), ("canary\nreq/s", "right"), ("check", "left"), ("window", "right"),
        ("requests\nin window", "right"), ("P(no data)", "right"),
        ("P(no data)\nif reached", "right"), ("P(no data)\nheld", "right"),
        ("catches\nerrors >=", "right"))
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=col == "check",
                         min_width=max(len(line) for line in col.split("\n")))
    for step in report.steps:
        for n, c in enumerate(step.checks):
            if c.min_error_rate_caught is None:
                caught = "-"
            elif c.min_error_rate_caught == 0.0:
                caught = "any (no data)"
            else:
                caught = pct(c.min_error_rate_caught)
            table.add_row(
                step.label if n == 0 else "", f"{step.canary_rps:.3g}" if n == 0 else "",
                _check_label(c), f"{c.window_s:g}s", _count(c.expected_requests),
                pct(c.p_no_data_window), "-" if c.p_no_data is None else pct(c.p_no_data),
                pct(c.p_no_data_held), caught)
        if not step.checks:
            table.add_row(step.label, f"{step.canary_rps:.3g}", "(no checks)", *[""] * 6)
    console.print(table)
    g, b, d = report.good, report.bad, report.durations
    console.print(
        f"good release (errors {g['error_rate']:.2%}): rolled back for nothing "
        f"{_odds(g, 'p_rolled_back')}; rollout takes {d['nominal_rollout_s']:g}s "
        f"(expected {g['expected_duration_s']:.3g}s with retried checks)", highlight=False)
    rollback = (f", after {b['expected_rollback_s']:.3g}s on average"
                if b["expected_rollback_s"] is not None else "")
    console.print(
        f"bad release (errors {b['error_rate']:.2%}): promoted anyway {_odds(b, 'p_promoted')}; "
        f"rolled back {pct(b['p_rolled_back'])}{rollback} (at the earliest "
        f"{d['earliest_rollback_s']:g}s after detection)", highlight=False)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if report.ok:
        console.print("[bold green]OK[/]: the odds are within the limits")
    else:
        for r in report.reasons:
            console.print(f"[bold red]FLAGGED:[/] {r}", highlight=False)


def _count(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def _odds(figures: dict, key: str) -> str:
    """An exact probability, or a sampled one with its 95% interval and the run count."""
    if figures["method"] == "exact":
        return pct(figures[key]) + " (exact)"
    lo, hi = figures[key + "_95"]
    if figures[key] == 0:
        return f"0 of {figures['runs']} runs (95% <= {pct(hi)})"
    return f"{pct(figures[key])} (95% {pct(lo)}..{pct(hi)}, {figures['runs']} runs)"


def _check_label(c) -> str:
    """What the check asserts, in few words (the spec's names can be long)."""
    if c.kind == MetricKind.REQUEST_SUCCESS_RATE.value and c.bound is not None:
        return f"success >= {c.bound:g}%"
    if c.kind == MetricKind.REQUEST_DURATION.value and c.bound is not None:
        return f"P99 <= {c.bound:g}ms"
    return c.name
