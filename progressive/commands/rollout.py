"""`progressive rollout SPEC.yaml --to VERSION`: one rollout on the local platform, shown live.

Registered on the CLI app by progressive/cli.py; the work is done by progressive/rollout.py,
this module only maps the options and renders. On a terminal the progress is a live rich view
(phase, weights, failed checks / threshold, a bar through the expected ticks, the last event);
otherwise one line per tick. The run ends with a one-line verdict. Exit 0 promoted (or the last
step reached), 1 rolled back / failed (BehaviourFailed), 2 invalid input or environment
(UserError), 130 interrupted (everything started is stopped first).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from progressive.errors import BehaviourFailed

_HELP = ("Roll VERSION out with the bundled engine on the local platform (started for the run "
         "unless one is up), under load with --rps. A Canary steps and analyses; a "
         "VirtualService is applied; a Shipper Application goes through its steps. Exit 0 "
         "promoted, 1 rolled back, 2 invalid input. --events-json writes JSON lines.")


def register(app: typer.Typer) -> None:
    app.command("rollout", help=_HELP)(rollout_command)


def rollout_command(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC.yaml", show_default=False,
                                              help="a Canary, VirtualService or Application")],
    to: Annotated[str | None, typer.Option("--to", metavar="VERSION", show_default=False,
                                           help="the new version (Canary, Application)")] = None,
    from_: Annotated[str, typer.Option("--from", metavar="VERSION",
                                       help="what the target runs first, if it does not exist")] = "v1",
    error_rate: Annotated[float, typer.Option(help="share of the new version's requests "
                                                   "answered 500 (0..1)")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="added to each request of the new version")] = 0.0,
    rps: Annotated[float, typer.Option(help="load through the gateway while it runs; 0: none")] = 0.0,
    time_scale: Annotated[float, typer.Option(help="multiply every duration of the spec")] = 1.0,
    events_json: Annotated[Path | None, typer.Option(
        "--events-json", metavar="FILE", show_default=False,
        help="write the engine's events, one JSON object per line")] = None,
    state_dir: Annotated[Path, typer.Option(help="local platform state dir")] = Path(".progressive"),
    replicas: Annotated[int | None, typer.Option(
        show_default=False, help="replicas of the target when the run creates it")] = None,
) -> None:
    from progressive import rollout as lib

    options = lib.RolloutOptions(to, from_, error_rate, latency_ms, rps, time_scale, events_json,
                                 state_dir, replicas)
    options.check()
    try:
        _run(lib, spec_file, options)
    except KeyboardInterrupt:
        # Typer turns KeyboardInterrupt into a bare return code, so cli.main never sees it:
        # say what happened here; SystemExit reaches cli.main as the exit code.
        Console(stderr=True).print("interrupted; everything started was stopped")
        raise SystemExit(130) from None


def _run(lib, spec_file: Path, options) -> None:
    from progressive.model.types import ApplicationSpec, CanarySpec

    rps = options.rps
    spec = lib.load_rollout_spec(spec_file)
    console = Console(soft_wrap=True, highlight=False)
    say = _say(console)
    if isinstance(spec, CanarySpec):
        if rps > 0:
            _lint_line(spec, options, say)
        plan = lib.canary_plan(spec)
        view = RolloutView(console, [f"{p} {w}" for p, w in plan], max(1, spec.analysis.threshold))
        with view:
            result = lib.run_canary(spec, options, on_event=view.event, say=view.say)
    elif isinstance(spec, ApplicationSpec):
        view = RolloutView(console, [s.name for s in spec.steps], 0, steps=True)
        with view:
            result = lib.release_application(spec, options, on_event=view.event, say=view.say)
        if not result.reached:
            raise BehaviourFailed(result.verdict)
        console.print(result.verdict)
        return
    else:
        for line in lib.apply_virtual_service(spec, options, say=say):
            console.print(line)
        return
    if not result.promoted:
        raise BehaviourFailed(result.verdict)
    console.print(result.verdict)


def _say(console: Console):
    return lambda text: console.print(text, markup=False)


def _lint_line(spec, options, say) -> None:
    """The lint's odds of a right verdict for this run, in one line."""
    from progressive.lint import lint
    from progressive.lint.advice import pct

    bad = options.error_rate if options.error_rate > 0 else 0.05
    try:
        r = lint(spec, options.rps, bad_error_rate=bad, time_scale=options.time_scale)
    except Exception as exc:  # noqa: BLE001 - the lint's opinion must not stop a rollout
        say(f"lint: not available ({exc})")
        return
    warn = f"; {len(r.warnings)} warning(s): `progressive lint`" if r.warnings else ""
    say(f"lint: a good release is rolled back {pct(r.good['p_rolled_back'])}, a release with "
        f"{bad:.0%} errors promoted {pct(r.bad['p_promoted'])} "
        f"({'ok' if r.ok else 'RISKY'}){warn}")


class RolloutView:
    """Live progress on a terminal, one line per tick elsewhere.

    `labels` are the expected ticks (Canary: "Progressing 10", ...) or the steps (Application);
    the bar's position is the furthest label the run has reached, in order.
    """

    def __init__(self, console: Console, labels: list[str], threshold: int, *, steps: bool = False):
        self.console = console
        self.labels = labels
        self.threshold = threshold
        self.steps = steps
        self.position = 0
        self.message = ""
        self.started = time.monotonic()
        self._live: Live | None = None
        self._progress = Progress(
            TextColumn("{task.fields[phase]:<16}"),
            BarColumn(bar_width=30),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[weights]}"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._progress.add_task("rollout", total=len(labels), phase="Starting",
                                             weights="", failed="")

    def __rich__(self):
        return Group(self._progress, Text(self.message, overflow="ellipsis", no_wrap=True))

    def __enter__(self) -> RolloutView:
        self.started = time.monotonic()
        if self.console.is_terminal:
            self._live = Live(self, console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def event(self, rec: dict) -> None:
        self.message = rec["message"]
        self._advance(rec)
        weights = f"primary {rec['primaryWeight']:>3} / canary {rec['canaryWeight']:>3}"
        failed = f"failed checks {rec['failedChecks']}/{self.threshold}" if self.threshold else ""
        self._progress.update(self._task, completed=self.position, phase=rec["phase"],
                              weights=weights, failed=failed)
        if self.steps or (self._live is None and rec["action"] == "tick"):
            step = f"{self.position}/{len(self.labels)}"
            self.console.print(
                f"{time.monotonic() - self.started:7.1f}s  {rec['phase']:<16} {weights}  "
                f"{failed + '  ' if failed else ''}[{step}]  {rec['message']}", markup=False)

    def _advance(self, rec: dict) -> None:
        if self.steps:  # Shipper: `iterations` is the achieved step, 1-based
            self.position = max(self.position, min(rec["iterations"], len(self.labels)))
            return
        here = f"{rec['phase']} {rec['canaryWeight']}"
        for i in range(self.position, len(self.labels)):
            if self.labels[i] == here:
                self.position = i + 1
                return
