"""A small self-contained HTML summary of a conformance run: always available, no Node needed.

`progressive report` (progressive/commands/report.py) writes it next to the Allure HTML report,
and on its own when Node is missing. It shows the conformance report (progressive.reports.conformance):
implementation, per profile the features and the tests with outcome and reason; then every PNG
attached in the Allure results (the weight timelines and share plots), embedded as data URIs so
the one file can be mailed or archived. Without a conformance report it lists the Allure
results' tests instead.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import yaml

MAX_EMBEDDED_BYTES = 20_000_000  # plots beyond this are listed, not embedded
OUTCOME_COLOUR = {
    "passed": "#2a9d4b", "failed": "#d62728", "broken": "#d62728", "skipped": "#c98a00",
    "unsupported": "#1f6fb4", "success": "#2a9d4b", "partial": "#c98a00", "failure": "#d62728",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.outcome { font-weight: bold; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; }
figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _outcome(value: str) -> str:
    colour = OUTCOME_COLOUR.get(value, "#222")
    return f'<span class="outcome" style="color:{colour}">{_e(value)}</span>'


def _table(header: list[str], rows: list[list[str]]) -> str:
    """`rows` cells are HTML already; the header is escaped here."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def conformance_section(report: dict) -> str:
    """HTML of the conformance report: result, implementation, and a row per test."""
    impl = report.get("implementation") or {}
    versions = impl.get("versions") or {}
    parts = [
        f"<h2>Result: {_outcome(report.get('result', '?'))}</h2>",
        _table(["engine", "platform", "time scale", "date"],
               [[_e(impl.get("engine")), _e(impl.get("platform")),
                 _e(report.get("timeScale")), _e(report.get("date"))]]),
    ]
    if versions:
        parts.append(_table(["component", "version"],
                            [[_e(k), _e(v)] for k, v in sorted(versions.items())]))
    for profile in report.get("profiles") or []:
        summary = ", ".join(f"{v} {k}" for k, v in (profile.get("summary") or {}).items())
        parts.append(f"<h3>Profile {_e(profile['name'])}: {_outcome(profile.get('result', '?'))}"
                     f" <small>({_e(summary)})</small></h3>")
        features = profile.get("features") or {}
        if features:
            parts.append(_table(["feature", "outcome"],
                                [[_e(f), _outcome(o)] for f, o in features.items()]))
        parts.append(_table(
            ["test", "description", "features", "outcome", "reason", "seconds"],
            [[_e(t["name"]), _e(t.get("description")), _e(", ".join(t.get("features") or [])),
              _outcome(t["outcome"]), _e(t.get("reason", "")),
              _e(f"{t.get('durationSeconds', 0.0):.1f}")]
             for t in profile.get("tests") or []],
        ))
    coverage = report.get("coverage")
    if coverage:
        gaps = coverage.get("gaps") or []
        parts.append(f"<h3>SEMANTICS.md rules and the tests that assert them "
                     f"<small>(without a test here: {_e(', '.join(gaps) or 'none')})</small></h3>")
        parts.append(_table(
            ["rule", "what", "tests", "outcome"],
            [[_e(r["rule"]), _e(r.get("title")), _e(", ".join(r.get("tests") or [])),
              _outcome(r["outcome"]) if r.get("outcome") else _outcome("no test")]
             for r in coverage.get("rules") or []]))
    return "\n".join(parts)


def read_allure_results(results_dir: Path) -> list[dict]:
    """The test results allure-pytest wrote (`*-result.json`), oldest first."""
    out = []
    for path in sorted(Path(results_dir).glob("*-result.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda r: r.get("start", 0))


def _attachments(node: dict) -> list[dict]:
    found = list(node.get("attachments") or [])
    for step in node.get("steps") or []:
        found += _attachments(step)
    return found


def results_section(results: list[dict]) -> str:
    """HTML table of Allure results (used when there is no conformance report)."""
    rows = []
    for r in results:
        message = ((r.get("statusDetails") or {}).get("message") or "").strip().splitlines()
        rows.append([_e(r.get("fullName") or r.get("name")), _outcome(r.get("status", "?")),
                     _e(message[0] if message else "")])
    return "<h2>Tests</h2>" + _table(["test", "status", "message"], rows)


def plots_section(results: list[dict], results_dir: Path) -> str:
    """The PNG attachments of the Allure results, embedded under each test's name and outcome
    (failed tests included: their plots matter most) up to a size budget, so that the page
    stays one self-contained file; what did not fit is listed by name."""
    sections, skipped, budget = [], [], MAX_EMBEDDED_BYTES
    for r in results:
        figures = []
        for a in _attachments(r):
            if a.get("type") != "image/png":
                continue
            path = Path(results_dir) / a.get("source", "")
            try:
                data = path.read_bytes()
            except OSError:
                continue
            caption = a.get("name", path.name)
            if len(data) > budget:
                skipped.append(f"{r.get('name', '?')}: {caption}")
                continue
            budget -= len(data)
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            figures.append(f'<figure><img src="{uri}" alt="{_e(caption)}">'
                           f"<figcaption>{_e(caption)}</figcaption></figure>")
        if figures:
            sections.append(f'<h3>{_e(r.get("name", "?"))} {_outcome(r.get("status", "?"))}</h3>\n'
                            + "\n".join(figures))
    if not sections and not skipped:
        return ""
    more = (f"<p>Not embedded (size): {_e(', '.join(skipped))}; see the Allure report.</p>"
            if skipped else "")
    return "<h2>Plots</h2>\n" + "\n".join(sections) + more


def render_summary(report: dict | None, results_dir: Path | None) -> str:
    """The whole `summary.html` page: conformance report (or Allure results) and the plots."""
    results = read_allure_results(results_dir) if results_dir else []
    body = [conformance_section(report) if report else "<p>No conformance report found.</p>"]
    if not report and results:
        body.append(results_section(results))
    if results_dir:
        body.append(plots_section(results, results_dir))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>progressive: conformance summary</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>progressive: conformance summary</h1>\n"
        + "\n".join(b for b in body if b)
        + "\n</body></html>\n"
    )


def load_conformance(path: Path | None) -> dict | None:
    """The conformance report at `path` (None when missing or not a mapping); safe_load only."""
    if path is None or not Path(path).is_file():
        return None
    report = yaml.safe_load(Path(path).read_text())
    return report if isinstance(report, dict) else None


def write_summary(out: Path, conformance: Path | None, results_dir: Path | None) -> Path:
    """Write `out` (an HTML file) from the conformance report YAML and the Allure results."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_summary(load_conformance(conformance), results_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
