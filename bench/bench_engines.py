"""The bundled engine and real Flagger side by side: one conformance run of each on k8s-local.

    python bench/bench_engines.py                         runs both, prints the side-by-side table
    python bench/bench_engines.py --reports DIR_A DIR_B   the table of two finished runs
    from bench.bench_engines import run                   rows for bench/run.py

Each run is `progressive conformance --platform k8s-local --engine E` (bench_conformance's
runner: its own session, SIGINT then SIGKILL on timeout) with the default time scale, which
Flagger raises per spec to its 10 s interval floor. The table gives every test's outcome and
duration under each engine, and each run's wall time and versions; a failed test is a result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml
from bench_conformance import run_conformance

ENGINES = ("bundled", "flagger")
TIMEOUT_S = 45 * 60.0  # Flagger's 10 s ticks: about 15 minutes here

Row = tuple[str, str, str]


def _tests(report: dict) -> dict[str, dict]:
    return {t["name"]: t for p in report["profiles"] for t in p["tests"]}


def _cell(test: dict | None) -> str:
    if test is None:
        return "-"
    cell = f"{test['outcome']} {test['durationSeconds']:.1f} s"
    return cell if test["outcome"] == "passed" else f"{cell} ({test.get('reason', '')[:90]})"


def side_by_side(reports: dict[str, dict], walls: dict[str, float | None]) -> str:
    """Markdown: one row per test, a column per engine, then wall time and versions."""
    names = sorted({n for r in reports.values() for n in _tests(r)})
    head = "| test | " + " | ".join(reports) + " |"
    lines = [head, "|---|" + "---|" * len(reports)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_cell(_tests(r).get(name))
                                                  for r in reports.values()) + " |")
    lines.append("| **wall time** | " + " | ".join(
        f"{walls[e]:.0f} s" if walls.get(e) is not None else "-" for e in reports) + " |")
    lines.append("| versions | " + " | ".join(
        ", ".join(f"{k} {v}" for k, v in r["implementation"].get("versions", {}).items())
        for r in reports.values()) + " |")
    return "\n".join(lines)


def run_engines(engines=ENGINES) -> tuple[dict[str, dict], dict[str, float | None]]:
    reports, walls = {}, {}
    for engine in engines:
        out = Path(tempfile.mkdtemp(prefix=f"bench-engines-{engine}-"))
        code, wall, tail = run_conformance(
            out, TIMEOUT_S, ["--platform", "k8s-local", "--engine", engine])
        path = out / "conformance.yaml"
        if not path.exists():
            raise RuntimeError(f"{engine}: no conformance report (exit {code}):\n{tail}")
        reports[engine], walls[engine] = yaml.safe_load(path.read_text()), wall
    return reports, walls


def run() -> list[Row]:
    reports, walls = run_engines()
    rows: list[Row] = [(f"{e} on k8s-local: wall time", f"{walls[e]:.0f} s", "-")
                       for e in reports]
    for name in sorted({n for r in reports.values() for n in _tests(r)}):
        rows.append((name, "; ".join(f"{e}: {_cell(_tests(r).get(name))}"
                                     for e, r in reports.items()), "passed"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", nargs=2, type=Path, metavar=("BUNDLED_DIR", "FLAGGER_DIR"),
                        help="read two finished runs' conformance.yaml instead of running")
    args = parser.parse_args(argv)
    if args.reports:
        reports = {e: yaml.safe_load((d / "conformance.yaml").read_text())
                   for e, d in zip(ENGINES, args.reports, strict=True)}
        print(side_by_side(reports, {}))
        return 0
    reports, walls = run_engines()
    print(side_by_side(reports, walls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
