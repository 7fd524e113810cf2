"""`progressive tools install [--kubernetes-version X.Y.Z] [--require]`, `progressive tools path`

Registered on the CLI app by progressive/cli.py. `install` builds the k8s-local platform's
tools (Kubernetes, etcd, Flagger and the CRDs; progressive/platforms/k8s_local/tools.py) from
the package's pinned wrapper modules into the user cache; a warm run does nothing. Without Go
1.25+ it says what the platform needs and how to get Go, and exits 0 (the other platforms need
nothing of it), 2 with --require. A failed build exits 2 with the end of go's output
(BuildFailed, a UserError, printed by the CLI). `path` prints the tools directory.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from progressive.errors import UserError

_HELP = "The k8s-local platform's tools: Kubernetes, etcd and Flagger built from source."
_INSTALL_HELP = ("Build Kubernetes, etcd and Flagger (pinned in fixtures/versions.yaml) from their "
                 "Go modules into the user cache; needs Go 1.25+. A warm run does nothing. "
                 "Exit 0 when built (or without Go, with how to get it), 2 when a build fails "
                 "(or without Go, with --require).")


def register(app: typer.Typer) -> None:
    tools = typer.Typer(name="tools", help=_HELP, no_args_is_help=True)
    tools.command("install", help=_INSTALL_HELP)(install_command)
    tools.command("path", help="Print the directory the tools are built into.")(path_command)
    app.add_typer(tools)


def install_command(
    kubernetes_version: Annotated[str | None, typer.Option(
        "--kubernetes-version", metavar="X.Y.Z",
        help="Also build this Kubernetes release, beside the pinned one (`progressive up "
             "--platform k8s-local --kubernetes-version X.Y.Z` runs it).",
        show_default=False)] = None,
    require: Annotated[bool, typer.Option(
        "--require", help="Exit 2 when Go 1.25+ is missing (default: say so and exit 0).")]
        = False,
) -> None:
    from progressive.platforms.k8s_local import tools

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if kubernetes_version is not None and not _is_release(kubernetes_version):
        raise UserError(f"--kubernetes-version {kubernetes_version}: expected a release X.Y.Z, "
                        "e.g. 1.36.3")
    problem = tools.go_problem()
    if problem is not None:
        if require:
            raise UserError(f"{tools.GO_HINT} ({problem})")
        err.print(f"{tools.GO_HINT} ({problem})", markup=False)
        return
    done = tools.install(kubernetes_version)
    if done.built:
        err.print(f"built {', '.join(done.built)} in {done.elapsed_s:.0f} s: {done.tools}",
                  markup=False)
    else:
        err.print(f"k8s-local tools up to date, nothing to build: {done.tools}", markup=False)


def path_command() -> None:
    from progressive.platforms.k8s_local.tools import tools_dir

    print(tools_dir())


def _is_release(version: str) -> bool:
    parts = version.split(".")
    return len(parts) == 3 and all(p.isdigit() for p in parts)
