"""The machine-readable conformance report, in the style of the Gateway API suite's report.

    apiVersion: progressive.dev/v1alpha1
    kind: ConformanceReport
    implementation: {engine, platform, versions: {envoy, prometheus, ...}}
    date: ...
    timeScale: 0.1
    result: success | partial | failure
    deselected: [names]      (only when -k/-m left conformance tests out: not a full claim)
    profiles:
      - name: core
        result: success
        summary: {passed: 5, failed: 0, skipped: 0, unsupported: 1}
        features: {canary: passed, ...}
        tests: [{name, description, features, rules, outcome, reason?, durationSeconds,
                 attachments?: [the names of its Allure attachments: plots, logs]}]
    coverage: {rules: [{rule, title, seam, tests, outcome}], gaps: [rules no test asserted]}
              (reports/coverage.py: SEMANTICS.md's rules and the tests of this run)

A profile *succeeds* when every test in it passed or is unsupported by declaration; it is
*partial* when some were skipped; it *fails* when one failed. Features take the worst outcome of
the tests that need them.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml

from progressive.reports.coverage import build_coverage

ORDER = {"failed": 0, "skipped": 1, "unsupported": 2, "passed": 3}


def profile_result(outcomes: list[str]) -> str:
    """A profile's result, Gateway API style: failure if any test failed, partial if any was
    skipped, else success (unsupported tests do not lower it: they were never claimed)."""
    if "failed" in outcomes:
        return "failure"
    if "skipped" in outcomes:
        return "partial"
    return "success"


def build_report(results: dict, settings: dict, versions: dict,
                 deselected: list[str] | None = None) -> dict:
    """The conformance report as a dict: implementation (engine, platform, versions), one entry
    per profile with its result and tests, and the run's overall result."""
    profiles: dict[str, list[dict]] = {}
    for entry in results.values():
        profiles.setdefault(entry["profile"], []).append(entry)
    out_profiles = []
    for name in sorted(profiles, key=lambda p: (p != "core", p)):
        tests = sorted(profiles[name], key=lambda e: e["name"])
        outcomes = [t["outcome"] for t in tests]
        features: dict[str, str] = {}
        for t in tests:
            for f in t["features"]:
                prev = features.get(f)
                if prev is None or ORDER[t["outcome"]] < ORDER[prev]:
                    features[f] = t["outcome"]
        out_profiles.append(
            {
                "name": name,
                "result": profile_result(outcomes),
                "summary": {k: outcomes.count(k) for k in ("passed", "failed", "skipped", "unsupported")},
                "features": dict(sorted(features.items())),
                "tests": [
                    {
                        "name": t["name"],
                        "description": t["description"],
                        "features": list(t["features"]),
                        "rules": list(t.get("rules", ())),
                        "outcome": t["outcome"],
                        **({"reason": t["reason"]} if t.get("reason") else {}),
                        "durationSeconds": t.get("duration_s", 0.0),
                        **({"attachments": t["attachments"]} if t.get("attachments") else {}),
                        "nodeid": t["nodeid"],
                    }
                    for t in tests
                ],
            }
        )
    results_all = [p["result"] for p in out_profiles]
    overall = "failure" if "failure" in results_all else "partial" if "partial" in results_all else "success"
    return {
        "apiVersion": "progressive.dev/v1alpha1",
        "kind": "ConformanceReport",
        "implementation": {
            "engine": settings.get("engine"),
            "platform": settings.get("platform"),
            "versions": versions,
        },
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "timeScale": settings.get("time_scale"),
        "result": overall,
        **({"deselected": sorted(set(deselected))} if deselected else {}),
        "profiles": out_profiles,
        "coverage": build_coverage(list(results.values())),
    }


def write_report(path: Path, results: dict, settings: dict, versions: dict,
                 deselected: list[str] | None = None) -> dict:
    """Build the report and write it as YAML atomically (a reader never sees half of it)."""
    report = build_report(results, settings, versions, deselected)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(report, sort_keys=False))
    os.replace(tmp, path)
    return report
