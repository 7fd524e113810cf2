"""`progressive conformance`: run the conformance suites and print a summary table.

pytest runs in a child process (a fresh interpreter, its own signal handling and fixture
teardown); Ctrl-C or SIGTERM here interrupts it and waits for its teardown. The run writes,
under --report-dir: conformance.yaml (the machine-readable report), junit.xml,
allure-results/ and, when Node is present, the Allure HTML report.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from progressive.commands.output import cli_console
from progressive.errors import BehaviourFailed, UserError
from progressive.platforms.factory import PLATFORMS
from progressive.resources import packaged

# Measured on 2 cores (bench/bench_concurrency.py [--platform k8s-local]): the cores one rollout
# test keeps busy on average (a serial run's busy cores less the idle platform's: Locust at
# 150 req/s, the engine, the app processes, their share of the platform) and what the idle
# platform takes. The default number of tests at once fills at most UTILISATION of the cores
# with their average load, leaving the rest for a test's peaks (processes starting, a step's
# route change, plots): 4 on local and 2 on k8s-local with 2 cores.
TEST_CPU = {"local": 0.37, "k8s-local": 0.61}
PLATFORM_CPU = {"local": 0.02, "k8s-local": 0.07}
UTILISATION = 0.75
MAX_WORKERS = 4
SHARED = tuple(PLATFORM_CPU)  # the platforms whose tests can share one platform

OUTCOME_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "unsupported": "cyan"}


def preflight(platform: str, kubernetes_version: str | None = None) -> None:
    """Stop before anything starts when the platform cannot run here (exit 2)."""
    if platform == "local":
        from progressive.processes import find_binary

        find_binary("envoy")
        find_binary("prometheus")
        return
    if platform == "k8s-local":
        from progressive.platforms.k8s_local.platform import check_machine

        check_machine(kubernetes_version)
        return
    from progressive.platforms.kind import preflight as kind_preflight

    missing = kind_preflight(platform)
    if missing:
        raise UserError(f"the {platform} platform cannot run here:\n  " + "\n  ".join(missing))


def default_workers(cores: int | None = None, platform: str = "local") -> int:
    """Tests run at once on a shared platform: as many rollouts as the cores carry."""
    cores = cores or os.cpu_count() or 1
    room = cores * UTILISATION - PLATFORM_CPU[platform]
    return max(1, min(MAX_WORKERS, int(room / TEST_CPU[platform])))


def run_pytest(args: list[str]) -> int:
    """pytest in a child process; Ctrl-C is forwarded as SIGINT so that its fixtures tear the
    platform down, and waited for within a bound."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *args])  # noqa: S603 - argv list
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # pytest tears its fixtures down on SIGINT
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise


def summary_table(report: dict) -> Table:
    """The conformance report as the table printed at the end of a run (outcomes coloured)."""
    table = Table(title=f"conformance: {report['result']}", show_lines=False)
    for col in ("profile", "test", "features", "outcome", "seconds"):
        table.add_column(col)
    for profile in report["profiles"]:
        for t in profile["tests"]:
            style = OUTCOME_STYLE.get(t["outcome"], "")
            table.add_row(
                profile["name"],
                t["name"],
                ",".join(t["features"]),
                f"[{style}]{t['outcome']}[/]",
                f"{t['durationSeconds']:.1f}",
            )
    return table


def coverage_line(report: dict) -> str:
    """The SEMANTICS.md coverage of this run, in one line (the map is in the report)."""
    coverage = report.get("coverage") or {"rules": [], "gaps": []}
    rules, gaps = coverage["rules"], coverage["gaps"]
    passed = sum(1 for r in rules if r.get("outcome") == "passed")
    return (f"SEMANTICS.md rules: {len(rules)}, each asserted by this run's tests: "
            f"{len(rules) - len(gaps)} ({passed} passed); without a test here: "
            f"{', '.join(gaps) or 'none'}  (coverage map: conformance.yaml)")


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def conformance(
        ctx: typer.Context,
        platform: str = typer.Option("local", help=", ".join(PLATFORMS)),
        engine: str = typer.Option("bundled", help="bundled or flagger"),
        time_scale: float | None = typer.Option(
            None, help="multiply every spec duration by this (default 0.1 local, 1 on a cluster)"),
        report_dir: Path = typer.Option(Path("reports/out"), help="where reports are written"),
        kubernetes_version: str | None = typer.Option(
            None, help="k8s-local: a Kubernetes release built beside the pinned one "
                       "(progressive tools install --kubernetes-version X.Y.Z)"),
        html: bool = typer.Option(True, help="build the Allure HTML report when Node is present"),
        workers: int | None = typer.Option(
            None, min=1, help="tests run at once, sharing one platform (local and k8s-local; "
                              "default: as many rollouts as the cores carry: on 2 cores 4 on "
                              "local, 2 on k8s-local)"),
    ) -> None:
        """Run the conformance suites against an engine on a platform. Extra args go to pytest."""
        if platform not in PLATFORMS:
            raise UserError(f"unknown platform {platform!r}; choose {', '.join(PLATFORMS)}")
        if engine not in ("bundled", "flagger"):
            raise UserError(f"unknown engine {engine!r}; choose bundled or flagger")
        if engine == "flagger" and platform == "local":
            raise UserError("Flagger runs in a cluster: use --platform k8s-local (a control "
                            "plane on this machine), kind or kubeconfig")
        if time_scale is None:
            time_scale = 0.1 if platform in ("local", "k8s-local") else 1.0
        if time_scale <= 0:
            raise UserError("--time-scale must be > 0")
        suites = packaged("suites")  # in the installed package (a checkout: its suites/)
        if kubernetes_version and platform != "k8s-local":
            raise UserError("--kubernetes-version chooses the control plane of --platform "
                            "k8s-local (built beside the pinned release); "
                            f"{platform} does not start a control plane")
        own_n = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in ctx.args)
        if workers is None:
            workers = default_workers(platform=platform) if platform in SHARED and not own_n else 1
        if workers > 1 and platform not in SHARED:
            raise UserError(f"--workers: tests share one platform only on local and k8s-local; "
                            f"{platform} runs them one at a time")
        preflight(platform, kubernetes_version)
        report_dir.mkdir(parents=True, exist_ok=True)
        report_path = report_dir / "conformance.yaml"
        report_path.unlink(missing_ok=True)
        allure_dir = report_dir / "allure-results"
        # Cleaned here, not with --clean-alluredir: every xdist worker would clean it again.
        shutil.rmtree(allure_dir, ignore_errors=True)
        args = [
            str(suites),
            "-c", str(suites / "conformance.ini"),
            f"--rootdir={suites}",
            f"--platform={platform}",
            f"--engine={engine}",
            f"--time-scale={time_scale}",
            f"--conformance-report={report_path}",
            f"--alluredir={allure_dir}",
            f"--junitxml={report_dir / 'junit.xml'}",
            "-p", "no:cacheprovider",
            "-q",
            *([f"--kubernetes-version={kubernetes_version}"] if kubernetes_version else []),
            *ctx.args,
        ]  # fmt: skip
        started = time.monotonic()
        code = _run(args, workers, platform, kubernetes_version)
        elapsed = time.monotonic() - started
        console = cli_console()
        if not report_path.exists():
            raise BehaviourFailed(f"pytest exited {code} without a conformance report")
        report = yaml.safe_load(report_path.read_text())
        console.print(summary_table(report))
        console.print(coverage_line(report))
        console.print(f"report: {report_path}   junit: {report_dir / 'junit.xml'}   "
                      f"allure results: {allure_dir}   ({elapsed:.0f} s)")
        if html:
            _html_report(console, allure_dir, report_dir)
        core = next((p for p in report["profiles"] if p["name"] == "core"), None)
        if core is None or core["result"] != "success" or code not in (0, 1):
            raise BehaviourFailed(
                f"core conformance {core['result'] if core else 'missing'} (pytest exit {code})"
            )
        if report["result"] != "success":
            console.print(f"[yellow]extended profiles: {report['result']}[/]")
        if report.get("deselected"):
            console.print(f"[yellow]a subset: {len(report['deselected'])} conformance tests were "
                          "not selected (-k/-m), so this run is no full conformance claim[/]")


def _run(args: list[str], workers: int, platform: str = "local",
         kubernetes_version: str | None = None) -> int:
    """pytest, with `workers` xdist workers attached to one platform started here (and stopped
    here, also on Ctrl-C) when more than one."""
    if workers == 1:
        return run_pytest(args)
    from progressive.session import platform_session

    state_dir = Path(tempfile.mkdtemp(prefix="progressive-conformance-"))
    try:
        with platform_session(platform, state_dir, say=Console(stderr=True).print,
                              kubernetes_version=kubernetes_version):
            # loadgroup: the tests judging one module-scoped rollout stay on one worker
            return run_pytest([*args, "-n", str(workers), "--dist", "loadgroup",
                               f"--progressive-state-dir={state_dir}"])
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _html_report(console: Console, allure_dir: Path, report_dir: Path) -> None:
    from progressive.commands.report import build_reports

    try:
        where = build_reports(allure_dir, report_dir / "allure-report", quiet=True)
        console.print(f"html report: {where}")
    except UserError as exc:
        console.print(f"[yellow]no HTML report: {exc}[/]")
