"""`progressive validate FILE...`: output lines, exit codes, missing files."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import typer
from spec_docs import BAD, SPECS
from typer.testing import CliRunner

from progressive.commands.validate import register


@pytest.fixture
def run(capsys):
    """Run the real CLI entry point in-process; (exit code, stdout, stderr)."""
    from progressive.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        before = signal.getsignal(signal.SIGTERM)
        try:
            code = main(["validate", *map(str, args)])
        finally:
            signal.signal(signal.SIGTERM, before)  # main() installs its own handler
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_valid_canary_prints_one_ok_line(run):
    code, out, err = run(SPECS / "seed-canary.yaml")
    assert code == 0
    assert out.splitlines() == [
        f"OK    {SPECS / 'seed-canary.yaml'} (Canary jx-production/"
        "jx-production-croc-hunter-jenkinsx, canary strategy, 5 steps: 10,20,30,40,50, "
        "every 15s, threshold 5)"
    ]
    assert err == ""


def test_warnings_do_not_fail(run):
    code, out, _ = run(SPECS / "seed-virtualservice.yaml")
    assert code == 0
    ok, warn = out.splitlines()
    assert ok.startswith("OK    ") and "weights 99/0" in ok
    assert warn.startswith(f"WARN  {SPECS / 'seed-virtualservice.yaml'} (VirtualService "
                           "croc-hunter-jenkinsx): spec.http[0].route[1]: destination 2 (")
    assert warn.endswith("has no weight and will receive no traffic; did you mean 1?")


def test_all_good_fixtures_together(run):
    files = sorted(SPECS.glob("*.yaml"))
    code, out, _ = run(*files)
    assert code == 0
    assert sum(line.startswith("OK    ") for line in out.splitlines()) == len(files)
    assert out.splitlines()[-1] == f"{len(files)} files valid"


def test_problems_one_per_line_and_exit_2(run):
    code, out, err = run(BAD / "canary-many-problems.yaml")
    assert code == 2
    lines = out.splitlines()
    assert len(lines) == 5 and all(line.startswith("FAIL  ") for line in lines)
    assert "(Canary Croc_Hunter): spec.analysis.stepWeight: must be between 1 and 100, got 150" \
        in out
    assert "1 of 1 file invalid" in err


def test_multi_document_file_reports_each_document(run):
    code, out, _ = run(BAD / "multi-doc-one-bad.yaml")
    assert code == 2
    assert [line[:6] for line in out.splitlines()] == ["OK    ", "FAIL  ", "OK    "]
    assert "multi-doc-one-bad.yaml[2] (Application default/croc-hunter" in out


def test_missing_file_is_exit_2_with_a_message(run, tmp_path: Path):
    code, out, err = run(SPECS / "seed-canary.yaml", tmp_path / "nope.yaml")
    assert code == 2
    assert f"FAIL  {tmp_path / 'nope.yaml'}: no such file" in err
    assert "1 of 2 files invalid" in err
    assert out.startswith("OK    ")


def test_directory_is_exit_2(run, tmp_path: Path):
    code, _, err = run(tmp_path)
    assert code == 2 and "is a directory" in err


def standalone_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps `validate` a subcommand
        pass

    return app


def test_no_file_is_a_usage_error():
    result = CliRunner().invoke(standalone_app(), ["validate"])
    assert result.exit_code == 2
    assert "Missing" in result.output


def test_register_on_any_typer_app():
    """The command works on an app other than progressive.cli's."""
    app = standalone_app()
    result = CliRunner().invoke(app, ["validate", str(SPECS / "application-shipper.yaml")])
    assert result.exit_code == 0
    assert "OK    " in result.output and "3 steps: staging, 50/50, full on" in result.output
    result = CliRunner().invoke(app, ["validate", str(BAD / "empty.yaml")])
    assert result.exit_code != 0  # a UserError: progressive.cli turns it into exit 2
    assert "empty file (no YAML document)" in result.output
