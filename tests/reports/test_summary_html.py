"""summary.html: the conformance report as tables, the attached plots embedded, always escaped."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from progressive.reports.conformance import build_report
from progressive.reports.html import write_summary
from progressive.reports.plots import ROLLOUT_PLOTS

SETTINGS = {"engine": "bundled", "platform": "local", "time_scale": 0.1}
VERSIONS = {"envoy": "1.40.0", "prometheus": "2.42.0"}


def entry(name, outcome, features, profile="core", reason=None):
    e = {"name": name, "description": f"{name} behaves", "features": features,
         "profile": profile, "outcome": outcome, "nodeid": f"suites/test_x.py::{name}",
         "duration_s": 1.25}
    if reason:
        e["reason"] = reason
    return e


def sample_report(tmp_path: Path) -> Path:
    results = {e["nodeid"]: e for e in [
        entry("canary-stepping", "passed", ["canary"]),
        entry("rollback-error-rate", "failed", ["canary", "rollback"],
              reason="AssertionError: phase Succeeded, expected Failed <b>after 2 checks</b>"),
        entry("preview-split", "skipped", ["header-routing"], reason="no Envoy here"),
        entry("mirroring", "unsupported", ["mirroring"], profile="extended",
              reason="unsupported: mirroring"),
    ]}
    path = tmp_path / "conformance.yaml"
    path.write_text(yaml.safe_dump(build_report(results, SETTINGS, VERSIONS), sort_keys=False))
    return path


def cells(html: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", html)


def row_of(html: str, name: str) -> list[str]:
    """The row of conformance test `name`: test, description, features, outcome, reason, s."""
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", html)]
    return next(r for r in rows if len(r) == 6 and r[0] == name)


def test_outcomes_and_reasons_per_profile(tmp_path: Path):
    out = write_summary(tmp_path / "out" / "summary.html", sample_report(tmp_path), None)
    html = out.read_text()
    assert "Result: " in html and ">failure</span>" in html
    assert re.search(r"Profile core: .*>failure</span>.*1 passed, 1 failed, 1 skipped, "
                     r"0 unsupported", html)
    assert re.search(r"Profile extended: .*>success</span>", html)
    assert html.index("Profile core") < html.index("Profile extended")
    for name, outcome in [("canary-stepping", "passed"), ("rollback-error-rate", "failed"),
                          ("preview-split", "skipped"), ("mirroring", "unsupported")]:
        assert f">{outcome}</span>" in row_of(html, name)[3]
    assert row_of(html, "preview-split")[4] == "no Envoy here"
    assert row_of(html, "mirroring")[4] == "unsupported: mirroring"
    assert "1.40.0" in cells(html) and "bundled" in cells(html)


def test_reasons_are_escaped(tmp_path: Path):
    html = write_summary(tmp_path / "s.html", sample_report(tmp_path), None).read_text()
    assert "&lt;b&gt;after 2 checks&lt;/b&gt;" in html
    assert "<b>" not in html


def test_from_a_real_run_with_plots(allure_run, tmp_path: Path):
    html = write_summary(tmp_path / "s.html", allure_run.conformance, allure_run.results).read_text()
    assert ">failed</span>" in row_of(html, "preview-split")[3]
    assert ">unsupported</span>" in row_of(html, "mirroring")[3]
    assert ">passed</span>" in row_of(html, "canary-stepping")[3]
    reasons = {t["name"]: t.get("reason", "") for p in yaml.safe_load(
        allure_run.conformance.read_text())["profiles"] for t in p["tests"]}
    assert row_of(html, "preview-split")[4] == reasons["preview-split"] != ""
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 4  # the rollout's three, and the failed preview test's split
    stepping, preview = html.index("<h3>test_stepping"), html.index("<h3>test_preview")
    for name in ROLLOUT_PLOTS:  # under its test's heading
        assert stepping < html.index(f'alt="{name}"') < preview or \
            preview < stepping < html.index(f'alt="{name}"')
    assert ">failed</span></h3>" in html[preview:preview + 200]
    assert 'alt="split per destination"' in html[preview:]


def test_without_a_conformance_report_lists_the_allure_tests(allure_run, tmp_path: Path):
    html = write_summary(tmp_path / "s.html", tmp_path / "missing.yaml",
                         allure_run.results).read_text()
    assert "No conformance report found." in html
    td = cells(html)
    assert any(c.endswith("test_preview") for c in td)
    assert html.count("data:image/png;base64,") == 4


def test_the_rules_coverage_is_a_table_with_its_gaps(tmp_path):
    results = {"a": {**entry("canary-stepping", "passed", ["canary"]), "rules": ["4.11"]},
               "b": {**entry("rollback-error-rate", "failed", ["canary"]), "rules": ["4.9"]}}
    path = tmp_path / "conformance.yaml"
    path.write_text(yaml.safe_dump(build_report(results, SETTINGS, VERSIONS), sort_keys=False))
    page = write_summary(tmp_path / "summary.html", path, None).read_text()
    assert "SEMANTICS.md rules and the tests that assert them" in page
    row = re.search(r"<tr><td>4\.9</td><td>[^<]*</td><td>rollback-error-rate</td><td>(.*?)</td>",
                    page)
    assert row and ">failed<" in row.group(1)
    assert re.search(r"without a test here: [^<]*10\.1", page), "the gaps are not named"
