"""The `progressive` command line: a thin layer over the library.

Each command lives in `progressive/commands/<name>.py` with a `register(app)` function. Exit
codes (DESIGN.md): 0 success, 1 the behaviour failed, 2 invalid input or environment. A user
mistake (UserError) prints its message without a traceback.
"""

from __future__ import annotations

import importlib
import signal
import sys

import typer
import typer._click.exceptions as click_exceptions  # typer ships its own click
from rich.console import Console

from progressive.errors import BehaviourFailed, UserError

COMMAND_MODULES = (
    "platform",  # up, down, status
    "validate",
    "rollout",
    "preview",
    "conformance",
    "report",
    "render",
    "lint",
    "tools",  # tools install, tools path (the k8s-local platform's Go builds)
)

app = typer.Typer(
    name="progressive",
    help="End-to-end harness and conformance suite for progressive delivery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from progressive import __version__

        typer.echo(f"progressive {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """End-to-end harness and conformance suite for progressive delivery."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"progressive.commands.{name}").register(app)


def _environment_errors() -> tuple[type[Exception], ...]:
    from progressive.metrics.base import MetricsError
    from progressive.routing.base import RouterError

    # A wait of a dependency (TimeoutError), the gateway (RouterError) or Prometheus failing
    # outside a rollout's checks (which count them) is the environment's problem.
    return (TimeoutError, RouterError, MetricsError)


_ENVIRONMENT_ERRORS = _environment_errors()


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def _hear_sigint() -> bool:
    """Ctrl-C / SIGINT stops and cleans up, also when started as a background job of a script.

    Such a job inherits SIGINT ignored (the shell's doing, and exec keeps it), so a `kill -INT`
    would be lost, and so would the SIGINT that `progressive conformance` forwards to pytest.
    True when it was ignored (and is heard now).
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    err = Console(stderr=True)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # teardown as on Ctrl-C
    sigint_was_ignored = False
    try:
        _register_commands()  # a broken install (missing package data) is a UserError
        sigint_was_ignored = _hear_sigint()
        rc = app(args=argv, standalone_mode=False)
    except UserError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except BehaviourFailed as exc:
        err.print(f"[bold red]failed:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted; everything started was stopped")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # usage errors arrive as click exceptions (typer ships its own click)
        if isinstance(exc, click_exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, typer.Abort):
            return 130
        if isinstance(exc, _ENVIRONMENT_ERRORS):  # a part of the platform failed: no traceback
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            return 2
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if sigint_was_ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
