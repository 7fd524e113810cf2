"""`progressive report`: exit codes, the summary in every case, the Allure report with Node.

The command runs in a subprocess, registered into a fresh app exactly as progressive/cli.py
registers it (cli.main maps its errors to exit codes), so the test does not depend on the other
commands. `--open` is observed through $BROWSER, a script that records the URL it was given.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from progressive.commands.report import ALLURE_VERSION, npm_prefix

CLI = """
import sys, typer
import progressive.cli as cli
cli.COMMAND_MODULES = ("report",)
cli.app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
cli.app.callback()(lambda: None)
sys.exit(cli.main(sys.argv[1:]))
"""
# a cold `npm install` of the pinned allure took 8 s here, a build 1.3 s; room for a slow mirror
NPM_BUILD_TIMEOUT_S = 600


def report(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, "report", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout,
                          check=False)


def recording_browser(tmp_path: Path) -> tuple[dict, Path]:
    opened = tmp_path / "opened-url"
    script = tmp_path / "browser.sh"
    script.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > '{opened}'\n")
    script.chmod(0o755)
    return {"BROWSER": str(script)}, opened


def test_missing_results_exit_2(tmp_path: Path):
    proc = report("--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "html"))
    assert proc.returncode == 2, proc.stderr
    assert "no Allure results" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "html").exists()


def test_results_without_test_results_exit_2(tmp_path: Path):
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "environment.properties").write_text("engine=bundled\n")
    proc = report("--results", str(results), "--out", str(tmp_path / "html"))
    assert proc.returncode == 2
    assert "is empty" in proc.stderr


def test_without_node_the_summary_is_written_and_opened(allure_run, tmp_path: Path):
    no_bin = tmp_path / "empty-path"
    no_bin.mkdir()
    browser, opened = recording_browser(tmp_path)
    out = tmp_path / "html"
    proc = report("--results", str(allure_run.results), "--out", str(out), "--open",
                  env={"PATH": str(no_bin), **browser})
    assert proc.returncode == 2, proc.stderr
    assert "apt-get install nodejs npm" in proc.stderr and "brew install node" in proc.stderr
    assert str(out / "summary.html") in proc.stderr
    assert "canary-stepping" in (out / "summary.html").read_text()  # found conformance.yaml
    assert not (out / "index.html").exists()
    assert opened.read_text() == (out / "summary.html").resolve().as_uri()


def embedded_files(index: Path) -> dict[str, bytes]:
    """The files a single-file Allure 3 report embeds as d("name", "base64") calls."""
    text = index.read_text()
    return {name: base64.b64decode(data)
            for name, data in re.findall(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', text)}


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="Node.js and npm are not installed (apt-get install nodejs npm / "
                           "brew install node): the Allure HTML report cannot be built")
def test_allure_html_report_with_node(allure_run, tmp_path: Path):
    from progressive.reports.allure_helpers import write_environment

    write_environment(allure_run.results, {"engine": "bundled", "platform": "local",
                                           "time_scale": 0.1}, {"envoy": "1.40.0"})
    browser, opened = recording_browser(tmp_path)
    out = tmp_path / "html"
    proc = report("--results", str(allure_run.results), "--out", str(out), "--open",
                  env=browser, timeout=NPM_BUILD_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    index = out / "index.html"
    assert f"allure report: {index}" in proc.stdout
    assert opened.read_text() == index.resolve().as_uri()
    assert (out / "summary.html").is_file()

    files = embedded_files(index)
    tests = [json.loads(v) for k, v in files.items() if k.startswith("data/test-results/")]
    assert sorted(t["name"] for t in tests) == ["test_mirroring", "test_preview", "test_stepping"]
    pngs = [v for k, v in files.items() if k.startswith("data/attachments/")
            and v[:8] == b"\x89PNG\r\n\x1a\n"]
    assert len(pngs) == 4
    categories = json.loads(files["widgets/categories.json"])
    names = {n["name"] for n in categories["nodes"].values() if n.get("type") == "category"}
    assert {"Traffic share out of bounds", "Unsupported features"} <= names
    assert b"bundled" in files["widgets/allure_environment.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stats"] == {"total": 3, "failed": 1, "skipped": 1, "passed": 1}
    package = json.loads((npm_prefix() / "node_modules/allure/package.json").read_text())
    assert package["version"] == ALLURE_VERSION  # the pinned version, from the local prefix
