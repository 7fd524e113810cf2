"""`progressive validate FILE...`: check spec files before anything starts.

Prints one line per document, plain enough to grep:
    OK    path (Canary ns/name, canary strategy, 5 steps: 10,20,30,40,50, ...)
    FAIL  path[1] (Canary name): spec.analysis.stepWeight: must be between 1 and 100, got 150
    WARN  path (VirtualService name): spec.http[0].route[1]: destination 2 (...) has no weight ...
Exit 0 when every file is valid, 2 otherwise (also for a missing or unreadable file): the
command ends with a UserError, which progressive/cli.py (where `register` is called) turns
into its message on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from progressive.errors import UserError
from progressive.model.validate import summarize, validate_file


def register(app: typer.Typer) -> None:
    app.command("validate", help=_HELP)(validate)


_HELP = (
    "Check Canary, VirtualService and Application files; list every problem by field path. "
    "Exit 0 when all are valid, 2 otherwise."
)


def validate(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE", help="Spec files (YAML; several documents per file allowed).",
        show_default=False)],
) -> None:
    invalid = sum(not check_one(path) for path in files)
    if invalid:
        raise UserError(f"{invalid} of {len(files)} file{'s' * (len(files) != 1)} invalid")
    if len(files) > 1:
        typer.echo(f"{len(files)} files valid")


def check_one(path: Path) -> bool:
    """Print the report for one file; True when it is valid."""
    try:
        report = validate_file(path)
    except UserError as e:
        typer.echo(f"FAIL  {e}", err=True)
        return False
    for line in report.problems:
        typer.echo(f"FAIL  {line}")
    for doc in report.documents:
        if doc.ok and doc.spec is not None:
            typer.echo(f"OK    {doc.location} ({summarize(doc.spec)})")
        for problem in doc.problems:
            typer.echo(f"FAIL  {doc.where}: {problem}")
        for warning in doc.warnings:
            typer.echo(f"WARN  {doc.where}: {warning}")
    return report.ok
