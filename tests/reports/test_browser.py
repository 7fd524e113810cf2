"""A real browser looks at the reports: summary.html and the Allure report of a small run, in
headless Chromium. Each page renders, every plot loads with a natural size, and the outcome of
every test is on the page. One full-page screenshot per page is kept (JUnit property
`screenshot-*`, under the test's tmp_path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from headless import PAGE_FACTS, Chromium, chromium_binary

from progressive.reports.plots import ROLLOUT_PLOTS, SPLIT_PLOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(chromium_binary() is None,
                       reason="no Chromium on PATH (apt-get install -y chromium; `make install` "
                              "installs it where the machine allows)"),
]

OUTCOMES = {"test_stepping": "passed", "test_preview": "failed", "test_mirroring": "skipped"}
CONFORMANCE = {"canary-stepping": "passed", "preview-split": "failed", "mirroring": "unsupported"}
# The Allure report (3.x) is a single page that renders with JavaScript: its test tree, each
# leaf's status, then, once a test is opened and its attachments unfolded, their images.
ALLURE_TREE = """
Array.from(document.querySelectorAll('[data-testid=tree-leaf]')).map(leaf => ({
  title: leaf.querySelector('[data-testid=tree-leaf-title]').textContent.trim(),
  status: (leaf.querySelector('[data-testid^=tree-leaf-status-]') || {dataset: {}})
            .getAttribute('data-testid').replace('tree-leaf-status-', ''),
}))
"""
ALLURE_OPEN_TEST = """
(async (name, expected) => {
  const wait = async (ok) => { for (let i = 0; i < 100 && !ok(); i++) await new Promise(r => setTimeout(r, 100)); };
  Array.from(document.querySelectorAll('[data-testid=tree-leaf]'))
    .find(leaf => leaf.textContent.includes(name)).click();
  await wait(() => document.querySelectorAll('[data-testid=test-result-attachment-header]').length >= expected);
  for (const header of document.querySelectorAll('[data-testid=test-result-attachment-header]'))
    header.querySelector('button').click();
  await wait(() => document.images.length >= expected);
  await Promise.all(Array.from(document.images).map(i => i.complete ? null :
    new Promise(done => { i.addEventListener('load', done); i.addEventListener('error', done); })));
  return Array.from(document.images).map(i => ({width: i.naturalWidth, height: i.naturalHeight}));
})(%r, %d)
"""


def test_summary_html_renders_its_plots_and_every_outcome(allure_run, tmp_path: Path,
                                                          record_property):
    from progressive.reports.html import write_summary

    page = write_summary(tmp_path / "summary.html", allure_run.conformance, allure_run.results)
    shot = tmp_path / "summary.png"
    with Chromium(tmp_path) as browser:
        facts = browser.look(page.as_uri(), PAGE_FACTS, shot)
    record_property("screenshot-summary", str(shot))
    assert facts["title"] == "progressive: conformance summary"
    assert sorted(i["alt"] for i in facts["images"]) == sorted([*ROLLOUT_PLOTS, SPLIT_PLOT])
    assert all(i["width"] > 0 and i["height"] > 0 for i in facts["images"]), facts["images"]
    rows = [line.split("\t") for line in facts["text"].splitlines()]
    for name, outcome in CONFORMANCE.items():
        assert any(r[0] == name and outcome in r for r in rows), (name, facts["text"])
    assert shot.stat().st_size > 50_000  # a full page with four plots, not a blank one


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="Node.js and npm are not installed: no Allure HTML report to look at")
def test_the_allure_report_renders_every_outcome_and_the_plots(allure_run, tmp_path: Path,
                                                               record_property):
    from progressive.commands.report import build_reports

    index = build_reports(allure_run.results, tmp_path / "html", quiet=True)
    tree_shot, test_shot = tmp_path / "allure-index.png", tmp_path / "allure-test.png"
    with Chromium(tmp_path) as browser:
        ready = "document.querySelectorAll('[data-testid=tree-leaf]').length >= 3"
        leaves = browser.look(index.as_uri(), ALLURE_TREE, tree_shot, ready=ready)
        images = browser.look(index.as_uri(), ALLURE_OPEN_TEST % ("test_stepping", len(ROLLOUT_PLOTS)),
                              test_shot, ready=ready)
    record_property("screenshot-allure-index", str(tree_shot))
    record_property("screenshot-allure-test", str(test_shot))
    assert {leaf["title"]: leaf["status"] for leaf in leaves} == OUTCOMES
    assert len(images) == len(ROLLOUT_PLOTS)
    assert all(i["width"] > 0 and i["height"] > 0 for i in images), images
