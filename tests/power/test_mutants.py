"""The suite-power bench's ground: every engine rule has a mutant, every rule has a test.

What the mutants are caught by is measured by bench/bench_power.py (it runs the suites once
per mutant: minutes, not a test). Here: the map from rules to mutants and to tests is whole,
and each mutant is a registered engine the suites can be pointed at.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from power_mutants import MUTANTS
from power_plugin import PREFIX

from progressive.engines import engine_names
from progressive.engines.bundled import BundledEngine
from progressive.rules import BY_ID, RULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_engine_rule_has_a_mutant_and_every_mutant_a_rule():
    broken = {m.rule for m in MUTANTS.values()}
    assert broken <= set(BY_ID), broken - set(BY_ID)
    missing = [r.id for r in RULES if r.seam == "engine" and r.id not in broken]
    assert not missing, f"engine rules no mutant breaks: {missing}"


def test_each_mutant_is_an_engine_that_differs_from_the_bundled_one():
    names = engine_names()
    for m in MUTANTS.values():
        assert PREFIX + m.name in names
        assert (m.loop, m.releases) != (BundledEngine.loop, BundledEngine.releases), m.name
        assert m.breaks, f"{m.name} does not say what it breaks"


def test_the_suites_leave_no_rule_without_a_test(tmp_path):
    out = tmp_path / "coverage.yaml"
    suites = ROOT / "suites"
    done = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", str(suites), "-c", str(suites / "conformance.ini"),
         f"--rootdir={suites}", "--collect-only", "-q", "-p", "no:cacheprovider",
         f"--coverage-map={out}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    coverage = yaml.safe_load(out.read_text())["coverage"]
    assert coverage["gaps"] == [], f"SEMANTICS rules without a conformance test: {coverage['gaps']}"


def test_the_bench_names_catches_outside_a_rule_and_claims_no_mutant_backs(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from bench_power import Verdict, analyse

    claims = {"t-a": ["1.1"], "t-b": ["1.1", "2.1"], "t-c": ["2.1"]}
    verdicts = [Verdict("mutant:x", "1.1", "", caught_by={"t-a": 1.0, "t-c": 2.0}),
                Verdict("mutant:y", "2.1", "", caught_by={"t-c": 1.0})]
    found = analyse(verdicts, claims)
    assert found["not_minimal"] == {"mutant:x": ["t-c"]}
    assert found["false_claims"] == ["t-b claims 1.1", "t-b claims 2.1"]
    # With `--only`, a rule whose mutants did not all run judges no claim.
    partial = analyse(verdicts, claims, {"1.1": 1, "2.1": 2})
    assert partial["false_claims"] == ["t-b claims 1.1"]
