"""The coverage map: each SEMANTICS.md rule (progressive/rules.py) and the conformance tests
that assert it, from the `rules` on their markers; a rule no test asserts is a gap.

    coverage:
      rules:
        - {rule: "4.9", title: ..., seam: engine, tests: [rollback-error-rate, ...],
           outcome: passed}          # the worst outcome of its tests, in a run
      gaps: ["4.3"]                  # rules without a test among those collected

Built from the collected tests (`pytest --collect-only --coverage-map PATH`) or from a run's
entries, where it joins the conformance report.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from progressive.rules import RULES

WORST_FIRST = ("failed", "skipped", "unsupported", "passed")


def build_coverage(tests: list[dict]) -> dict:
    """`tests`: conformance entries ({name, rules, outcome?}); the map over every rule."""
    rows = []
    for rule in RULES:
        mine = sorted((t for t in tests if rule.id in t.get("rules", ())), key=lambda t: t["name"])
        row = {"rule": rule.id, "title": rule.title, "seam": rule.seam,
               "tests": [t["name"] for t in mine]}
        outcomes = [t["outcome"] for t in mine if "outcome" in t]
        if outcomes:
            row["outcome"] = min(outcomes, key=WORST_FIRST.index)
        rows.append(row)
    return {"rules": rows, "gaps": [r["rule"] for r in rows if not r["tests"]]}


def write_coverage(path: Path, tests: list[dict]) -> dict:
    coverage = build_coverage(tests)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump({"coverage": coverage}, sort_keys=False))
    os.replace(tmp, path)
    return coverage
