"""`progressive report`: turn the Allure results of a run into HTML and say where it is.

Two reports land in --out: `index.html`, the Allure report built by the npm package `allure`
(3.x, pinned, installed once with npm into a project-local prefix and run with `node`; no global
install, no npx), and `summary.html` (progressive.reports.html: the conformance report as tables plus the
plots, no Node needed), which is written in every case so there is always something to open.
`progressive conformance` calls `build_reports` after its run.

Allure 3 takes its categories from a config file, not from the results' categories.json: the
command writes one from progressive.reports.allure_helpers.CATEGORIES for each build. The report is a single
HTML file (the `awesome` plugin's singleFile mode), so it opens from disk without a server.
Exit codes: 0 built; 2 no results, Node/npm missing, install or build failed (the message says
what to do; the summary is still written when there are results).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import webbrowser
from pathlib import Path

import typer

from progressive.errors import MissingBinary, UserError
from progressive.resources import cache_dir

ALLURE_VERSION = "3.18.0"
DEFAULT_RESULTS = Path("reports/out/allure-results")
DEFAULT_OUT = Path("reports/out/allure-report")
NODE_HINT = "apt-get install nodejs npm (Debian/Ubuntu) or brew install node (macOS)"
NPM_PREFIX_ENV = "PROGRESSIVE_NPM_PREFIX"
INSTALL_TIMEOUT_S = 600.0
GENERATE_TIMEOUT_S = 300.0


def npm_prefix() -> Path:
    """Where the pinned allure package is installed: $PROGRESSIVE_NPM_PREFIX or the user cache
    (never the package: site-packages may be read-only)."""
    return Path(os.environ.get(NPM_PREFIX_ENV) or cache_dir("npm"))


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0",
            "npm_config_update_notifier": "false", "npm_config_fund": "false"}


def _run(argv: list[str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,  # noqa: S603
                              env=_quiet_env(), check=False)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"{what} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise UserError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _installed_version(prefix: Path) -> str | None:
    try:
        return json.loads((prefix / "node_modules/allure/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def allure_command(prefix: Path | None = None, say=lambda msg: None) -> list[str]:
    """argv that runs the pinned allure CLI, installing it first when needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise MissingBinary("node" if node is None else "npm", NODE_HINT)
    prefix = Path(prefix or npm_prefix())
    cli = prefix / "node_modules" / "allure" / "cli.js"
    if _installed_version(prefix) != ALLURE_VERSION or not cli.is_file():
        prefix.mkdir(parents=True, exist_ok=True)
        with open(prefix / ".install.lock", "w") as lock:  # parallel runs install once
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _installed_version(prefix) != ALLURE_VERSION or not cli.is_file():
                say(f"installing allure@{ALLURE_VERSION} with npm into {prefix} (once)")
                _run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                      "--save-exact", f"allure@{ALLURE_VERSION}"],
                     INSTALL_TIMEOUT_S, f"npm install allure@{ALLURE_VERSION}")
    return [node, str(cli)]


def allure_config() -> dict:
    """The npm `allure` 3.x configuration (allurerc.json): single-file report, categories."""
    from progressive.reports.allure_helpers import CATEGORIES

    return {
        "name": "progressive conformance",
        "plugins": {"awesome": {"options": {"singleFile": True,
                                            "reportName": "progressive conformance"}}},
        "categories": CATEGORIES,
    }


def generate_allure(results: Path, out: Path, say=lambda msg: None) -> Path:
    """Build the Allure HTML report of `results` into `out`; returns out/index.html."""
    argv = allure_command(say=say)
    with tempfile.TemporaryDirectory(prefix="progressive-allurerc-") as tmp:
        config = Path(tmp) / "allurerc.json"
        config.write_text(json.dumps(allure_config(), indent=1))
        _run([*argv, "generate", "--config", str(config), str(results.resolve()),
              "--output", str(out.resolve())], GENERATE_TIMEOUT_S, "allure generate")
    index = out / "index.html"
    if not index.is_file():
        raise UserError(f"allure generate wrote no {index}")
    return index


def check_results(results: Path) -> None:
    """UserError (exit 2) naming what to run when the Allure results dir is missing or empty."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        state = "is empty" if results.is_dir() else "does not exist"
        raise UserError(f"no Allure results: {results} {state}. Run `progressive conformance` "
                        f"(or pytest with --alluredir={results}) first, or pass --results DIR.")


def build_reports(results: Path, out: Path, quiet: bool = False,
                  conformance: Path | None = None) -> Path:
    """Write out/summary.html and build the Allure report; returns the Allure index.html.

    Raises UserError (exit 2) when there are no results, or when the Allure report could not
    be built (Node missing, install or build failed): the summary is written all the same and
    the message says where. `conformance` defaults to conformance.yaml beside `results`.
    """
    from progressive.reports.html import write_summary

    results, out = Path(results), Path(out)
    check_results(results)
    conformance = conformance or results.parent / "conformance.yaml"
    say = (lambda msg: None) if quiet else (lambda msg: typer.echo(msg, err=True))
    out.mkdir(parents=True, exist_ok=True)
    try:
        index = generate_allure(results, out, say)
    except UserError as exc:
        summary = write_summary(out / "summary.html", conformance, results)
        raise UserError(f"{exc}\nNo Allure HTML report; a plain summary is at {summary}") from exc
    write_summary(out / "summary.html", conformance, results)
    return index


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        results: Path = typer.Option(DEFAULT_RESULTS, help="Allure results directory"),
        out: Path = typer.Option(DEFAULT_OUT, help="where the HTML reports are written"),
        conformance: Path = typer.Option(None, help="conformance report YAML "
                                         "(default: conformance.yaml beside the results)"),
        open_: bool = typer.Option(False, "--open", help="open the report in a browser"),
    ) -> None:
        """Build the HTML report (Allure, with Node) and a plain summary from a run's results."""
        check_results(results)
        summary = out / "summary.html"
        try:
            index = build_reports(results, out, conformance=conformance)
        except UserError:
            if open_ and summary.is_file():
                webbrowser.open(summary.resolve().as_uri())
            raise
        typer.echo(f"allure report: {index}")
        typer.echo(f"summary:       {summary}")
        if open_:
            webbrowser.open(index.resolve().as_uri())
