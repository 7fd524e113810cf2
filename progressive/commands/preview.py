"""`progressive preview VS.yaml`: deploy, route and verify a fixed split on the local platform.

Registered by progressive/cli.py. The platform comes from progressive/session.py (attached
when `progressive up` runs one, else started and stopped with the command); the work is
progressive/preview.py's; this module maps the options and renders the table. Exit 0 when
every destination's share is consistent with its weight, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from progressive.commands.output import cli_console
from progressive.errors import BehaviourFailed, UserError
from progressive.model.types import VirtualServiceSpec


def _overrides(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        host, sep, version = v.partition("=")
        if not sep or not host or not version:
            raise UserError(f"--version expects HOST=VERSION, got {v!r}")
        out[host] = version
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    def preview(
        spec: Path = typer.Argument(..., help="a VirtualService document"),
        requests: int = typer.Option(10_000, help="requests to send through the gateway"),
        confidence: float = typer.Option(0.9999, help="confidence of each share's test"),
        version: list[str] = typer.Option([], "--version", help="HOST=VERSION (repeatable)"),
        json_out: Path | None = typer.Option(None, "--json", help="write the figures here"),
        state_dir: Path = typer.Option(Path(".progressive"), help="local platform state dir"),
    ) -> None:
        """Deploy one app per destination, apply the VirtualService, verify the split."""
        from progressive.model import load_specs
        from progressive.preview import deploy_destinations, destination_versions, measure_split
        from progressive.session import platform_session

        if requests < 100:
            raise UserError("--requests must be at least 100")
        if not 0.5 < confidence < 1.0:
            raise UserError("--confidence must be between 0.5 and 1 (e.g. 0.9999)")
        docs = [d for d in load_specs(spec) if isinstance(d, VirtualServiceSpec)]
        if len(docs) != 1:
            raise UserError(f"{spec}: expected exactly one VirtualService, found {len(docs)}")
        vs = docs[0]
        console = cli_console()
        for warning in vs.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        versions = destination_versions(vs, _overrides(version))
        with platform_session("local", state_dir) as session:
            deploy_destinations(session.platform, vs, versions)
            session.platform.router().apply_virtual_service(vs)
            shares = measure_split(session.platform, vs, requests, confidence, versions)
        console.print(split_table(vs, shares, confidence))
        if json_out:
            json_out.write_text(json.dumps([
                {**s.__dict__, "share": s.share, "consistent": s.consistent} for s in shares
            ], indent=1))
        bad = [s for s in shares if not s.consistent]
        if bad:
            raise BehaviourFailed(", ".join(
                f"{s.host} got {s.share:.2%}, expected {s.expected:.2%} "
                f"(accepts {s.accept[0]}..{s.accept[1]} of {s.n})" for s in bad))


def split_table(vs: VirtualServiceSpec, shares: list, confidence: float) -> Table:
    """The observed split per destination, with its interval and verdict."""
    table = Table(title=f"{vs.namespace}/{vs.name}: {shares[0].n} requests, "
                        f"confidence {confidence}")
    for col in ("destination", "weight", "expected", "observed", "interval", "verdict"):
        table.add_column(col)
    for s in shares:
        table.add_row(s.host, str(s.weight), f"{s.expected:.2%}", f"{s.share:.2%}",
                      f"{s.interval[0]:.2%} - {s.interval[1]:.2%}",
                      "[green]consistent[/]" if s.consistent else "[bold red]OUT OF BOUNDS[/]")
    return table
