"""Suite power: run the conformance suites against each deliberately broken engine (mutant) and
say which tests caught it, how long that took, and the score (caught / all).

    python bench/bench_power.py                      every mutant (about 90 s each on 2 cores)
    python bench/bench_power.py --only double-step,mirror-off
    from bench.bench_power import run                rows for bench/run.py (a sample of mutants)

The mutants are tests/power/power_mutants.py, one per SEMANTICS rule at least; the suites see
each as engine `mutant:<name>` (tests/power/power_plugin.py). Each run is the whole suite as
`progressive conformance` runs it (xdist workers attached to one local platform, started for
that run alone), so that a mutant is also judged by the tests *not* mapped to its rule:

- caught: some test failed. Its rule's tests should be the ones: a catch by a test mapped to
  another rule means the mutant is not minimal (or that test also asserts the rule: map it);
- a test that claims a rule (its marker's `rules`) but catches none of that rule's mutants is a
  false claim, listed at the end;
- the unmutated bundled engine runs first, as the control: every test must pass with it, or
  no catch means anything.

Writes everything to --out (YAML). Exit 0 when every mutant was caught and the control passed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
POWER = REPO / "tests" / "power"
SUITES = REPO / "suites"
SAMPLE_ENV = "PROGRESSIVE_POWER_MUTANTS"  # bench/run.py: which mutants (comma list)
DEFAULT_SAMPLE = "double-step,no-data-passes,ignores-confirm-promotion"
DEFAULT_WORKERS = 4  # as `progressive conformance` on 2 cores
RUN_TIMEOUT_S = 900.0
MESSAGE_CHARS = 4000  # of a failure, in the YAML: enough for an Observation.explain()

Row = tuple[str, str, str]


@dataclass
class Verdict:
    engine: str
    rule: str | None
    breaks: str
    seconds: float = 0.0
    exit_code: int | None = None
    caught_by: dict[str, float] = field(default_factory=dict)  # test -> its duration
    reasons: dict[str, str] = field(default_factory=dict)
    passed: int = 0

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


def _mutants():
    sys.path.insert(0, str(POWER))
    from power_mutants import MUTANTS

    return MUTANTS


def mutants_per_rule() -> dict[str, int]:
    return dict(Counter(m.rule for m in _mutants().values()))


def coverage_map() -> dict[str, list[str]]:
    """test name -> the rules on its marker, from the suites as collected."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.yaml"
        subprocess.run(  # noqa: S603 - argv list
            [sys.executable, "-m", "pytest", str(SUITES), "-c", str(SUITES / "conformance.ini"),
             f"--rootdir={SUITES}", "--collect-only", "-q", "-p", "no:cacheprovider",
             f"--coverage-map={out}"], check=True, capture_output=True, timeout=120)
        rows = yaml.safe_load(out.read_text())["coverage"]["rules"]
    tests: dict[str, list[str]] = {}
    for row in rows:
        for test in row["tests"]:
            tests.setdefault(test, []).append(row["rule"])
    return tests


def judge(engine: str, state_dir: Path, workers: int, work: Path) -> tuple[int | None, dict]:
    """One whole-suite run against `engine` on the platform in `state_dir`: (exit, report)."""
    report = work / f"{engine.replace(':', '_')}.yaml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(POWER), *filter(None, [os.environ.get("PYTHONPATH")])])}
    args = [sys.executable, "-m", "pytest", str(SUITES), "-c", str(SUITES / "conformance.ini"),
            f"--rootdir={SUITES}", "-p", "power_plugin", "-p", "no:cacheprovider", "-q",
            f"--engine={engine}", f"--conformance-report={report}",
            f"--progressive-state-dir={state_dir}", "-n", str(workers), "--dist", "loadgroup",
            f"--junitxml={report.with_suffix('.xml')}"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        code: int | None = proc.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 15)
        proc.wait()
        code = None
    loaded = yaml.safe_load(report.read_text()) if report.exists() else {}
    failures = failure_messages(report.with_suffix(".xml"))
    for t in (t for p in loaded.get("profiles", []) for t in p["tests"]):
        whole = failures.get(t["nodeid"].split("::")[-1])
        if t["outcome"] == "failed" and whole:
            t["reason"] = whole  # the report keeps a line; a verdict needs the whole message
    return code, loaded


def failure_messages(junit: Path) -> dict[str, str]:
    """Test function name -> its whole failure message (JUnit XML), cut to MESSAGE_CHARS."""
    if not junit.exists():
        return {}
    import xml.etree.ElementTree as ET  # noqa: S405 - our own pytest's output

    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is not None:
            found[case.get("name", "")] = (bad.get("message") or bad.text or "")[:MESSAGE_CHARS]
    return found


def verdict_of(engine: str, rule: str | None, breaks: str, code: int | None, report: dict,
               seconds: float) -> Verdict:
    v = Verdict(engine, rule, breaks, round(seconds, 1), code)
    tests = [t for p in report.get("profiles", []) for t in p["tests"]]
    for t in tests:
        if t["outcome"] == "failed":
            v.caught_by[t["name"]] = t.get("durationSeconds", 0.0)
            v.reasons[t["name"]] = t.get("reason", "")
        elif t["outcome"] == "passed":
            v.passed += 1
    if not tests:
        v.caught_by["(no report)"] = seconds
        v.reasons["(no report)"] = f"pytest exited {code} without a conformance report"
    return v


def measure(names: list[str] | None, workers: int, say=print) -> tuple[Verdict, list[Verdict]]:
    from progressive.session import platform_session

    mutants = _mutants()
    chosen = [mutants[n] for n in (names or list(mutants))]
    verdicts: list[Verdict] = []
    with tempfile.TemporaryDirectory(prefix="progressive-power-") as tmp:
        work = Path(tmp)
        for i, (engine, rule, breaks) in enumerate(
                [("bundled", None, "nothing: the control"),
                 *((f"mutant:{m.name}", m.rule, m.breaks) for m in chosen)]):
            state = work / f"platform-{i}"
            started = time.monotonic()
            # A platform of its own: no run sees another's metrics, workloads or engine state.
            with platform_session("local", state):
                code, report = judge(engine, state, workers, work)
            v = verdict_of(engine, rule, breaks, code, report, time.monotonic() - started)
            say(f"{engine}: {'caught by ' + ', '.join(v.caught_by) if v.caught else 'not caught'}"
                f" ({v.seconds:.0f} s)")
            verdicts.append(v)
    return verdicts[0], verdicts[1:]


def analyse(verdicts: list[Verdict], claims: dict[str, list[str]],
            mutants_of: dict[str, int] | None = None) -> dict:
    """Minimality per mutant, and the claims no mutant of their rule backs. A claim is judged
    only when every mutant of its rule ran (`mutants_of`: rule -> how many; `--only` runs some)."""
    not_minimal = {v.engine: sorted(t for t in v.caught_by if v.rule not in claims.get(t, []))
                   for v in verdicts}
    ran = Counter(v.rule for v in verdicts)
    tried = {rule for rule, n in ran.items() if mutants_of is None or n >= mutants_of.get(rule, 0)}
    false_claims = sorted(
        (test, rule) for test, rules in claims.items() for rule in rules
        if rule in tried and not any(v.rule == rule and test in v.caught_by for v in verdicts))
    return {"not_minimal": {k: v for k, v in not_minimal.items() if v},
            "false_claims": [f"{t} claims {r}" for t, r in false_claims]}


def rows(control: Verdict, verdicts: list[Verdict], findings: dict) -> list[Row]:
    out: list[Row] = [("control: bundled engine", f"{control.passed} passed, "
                       f"{len(control.caught_by)} failed" + (
                           f" ({', '.join(control.caught_by)})" if control.caught else ""),
                       "0 failed")]
    for v in verdicts:
        first = min(v.caught_by, key=v.caught_by.__getitem__) if v.caught else None
        others = findings["not_minimal"].get(v.engine)
        caught = (f"{', '.join(sorted(v.caught_by))}; quickest {first} ({v.caught_by[first]:.1f} s)"
                  if first else "NOT CAUGHT")
        if others:
            caught += f"; also outside rule {v.rule}: {', '.join(others)}"
        out.append((f"{v.engine.removeprefix('mutant:')} (rule {v.rule}: {v.breaks})", caught,
                    "caught"))
    score = sum(v.caught for v in verdicts)
    out.append(("score (caught / mutants)", f"{score}/{len(verdicts)}", f"{len(verdicts)}/"
                f"{len(verdicts)}"))
    out.append(("false claims (a test mapped to a rule that caught none of its mutants)",
                "; ".join(findings["false_claims"]) or "none", "none"))
    return out


def run() -> list[Row]:
    """Rows for bench/run.py: the mutants in PROGRESSIVE_POWER_MUTANTS (a sample of three)."""
    names = os.environ.get(SAMPLE_ENV, DEFAULT_SAMPLE).split(",")
    control, verdicts = measure(names, DEFAULT_WORKERS,
                                say=lambda s: print(s, file=sys.stderr, flush=True))
    return rows(control, verdicts, analyse(verdicts, coverage_map(), mutants_per_rule()))


def table(rows_: list[Row]) -> str:
    lines = ["| mutant | caught by | target |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {t} |" for m, v, t in rows_]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated mutant names")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "power.yaml")
    args = parser.parse_args(argv)
    known = _mutants()
    names = args.only.split(",") if args.only else None
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        parser.error(f"unknown mutants {unknown}; known: {', '.join(known)}")
    claims = coverage_map()
    control, verdicts = measure(names, args.workers)
    findings = analyse(verdicts, claims, mutants_per_rule())
    print(table(rows(control, verdicts, findings)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump({
        "control": vars(control), "mutants": [vars(v) for v in verdicts], **findings},
        sort_keys=False))
    print(f"\nwritten: {args.out}")
    caught = all(v.caught for v in verdicts)
    return 0 if caught and not control.caught else 1


if __name__ == "__main__":
    sys.exit(main())
