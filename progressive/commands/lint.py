"""`progressive lint SPEC.yaml --rps N`: will this rollout flake, can it catch a bad release?

Registered on the CLI app by progressive/cli.py. Lints every Canary document of the file with
progressive.lint.lint, prints a table per canary and the verdict, and writes every figure as
JSON with --json. Exit 0 when every canary is within the limits, 1 when one is not (the
reasons are printed), 2 for an invalid spec or option (UserError / InvalidSpec, printed by the
CLI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from progressive.commands.output import cli_console
from progressive.errors import BehaviourFailed, UserError
from progressive.fsutil import atomic_write
from progressive.lint import SCHEMA, lint
from progressive.lint.render import render
from progressive.model.types import CanarySpec
from progressive.model.validate import load_specs

_HELP = ("Predict, from a Canary spec and the expected load, how often checks will see no data, "
         "the odds that a good release is rolled back and that a bad one is promoted. "
         "Exit 0 within the limits, 1 otherwise, 2 for an invalid spec.")


def register(app: typer.Typer) -> None:
    app.command("lint", help=_HELP)(lint_command)


def lint_command(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Canary spec file.",
                                              show_default=False)],
    rps: Annotated[float, typer.Option("--rps", help="Production requests per second.",
                                       show_default=False)],
    error_rate: Annotated[float, typer.Option(
        "--error-rate", help="True error rate of a good release (0..1).")] = 0.0,
    bad_error_rate: Annotated[float, typer.Option(
        "--bad-error-rate", help="Error rate of a bad release (0..1).")] = 0.05,
    time_scale: Annotated[float, typer.Option(
        "--time-scale", help="Multiply every duration of the spec (as `rollout` does).")] = 1.0,
    canary_rps: Annotated[float, typer.Option(
        "--canary-rps", help="Requests per second a load tester sends straight to the canary "
                             "(from the first analysis tick).")] = 0.0,
    match_share: Annotated[float | None, typer.Option(
        "--match-share", help="A/B: share of requests matching the spec's match (0..1).",
        show_default=False)] = None,
    metrics_lag: Annotated[float, typer.Option(
        "--metrics-lag", help="Seconds a request may take to show in queries: the scrape "
                              "interval (plus the rule evaluation interval for recorded "
                              "series). 0 ignores it.")] = 0.0,
    max_false_rollback: Annotated[float, typer.Option(
        "--max-false-rollback", help="Limit on P(a good release is rolled back).")] = 0.01,
    max_bad_promotion: Annotated[float, typer.Option(
        "--max-bad-promotion", help="Limit on P(a bad release is promoted).")] = 0.05,
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="Write every figure to this JSON file.", show_default=False)] = None,
) -> None:
    canaries = [s for s in load_specs(spec_file) if isinstance(s, CanarySpec)]
    if not canaries:
        raise UserError(f"{spec_file}: no Canary document to lint")
    reports = [lint(c, rps, error_rate=error_rate, bad_error_rate=bad_error_rate,
                    time_scale=time_scale, canary_rps=canary_rps, match_share=match_share,
                    metrics_lag_s=metrics_lag, max_false_rollback=max_false_rollback,
                    max_bad_promotion=max_bad_promotion)
               for c in canaries]
    console = cli_console()
    for n, report in enumerate(reports):
        if n:
            console.print()
        render(report, console)
    code = max(r.exit_code for r in reports)
    if json_file is not None:
        doc = {"schema": SCHEMA, "source": str(spec_file), "exit_code": code,
               "reports": [r.to_dict() for r in reports]}
        try:
            atomic_write(json_file, json.dumps(doc, indent=2) + "\n")
        except OSError as exc:
            raise UserError(f"--json {json_file}: cannot write: {exc.strerror or exc}") from None
    if code:
        flagged = [f"{r.namespace}/{r.name}" for r in reports if not r.ok]
        raise BehaviourFailed(f"lint flagged {', '.join(flagged)}: the odds are outside the "
                              "limits (reasons above)")
