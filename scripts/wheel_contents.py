"""Check a built wheel (and sdist) is the whole product and nothing else.

    python scripts/wheel_contents.py dist/progressive-X-py3-none-any.whl [dist/progressive-X.tar.gz]

The wheel: `progressive` is its only top-level package; it carries the suites, every fixture of
the repository's fixtures/, the Croc Hunter Dockerfile and app files, the locustfile, the
k8s-local wrapper modules, the console script and the pytest11 entry point. Neither archive
carries run output (reports, Allure results, state dirs, caches, built tools). Prints a summary;
exit 1 with every problem otherwise. tests/packaging/test_wheel.py uses it on a fresh build.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUIRED = (
    "progressive/app/Dockerfile", "progressive/app/templates/index.html",
    "progressive/load/locustfile.py", "progressive/fixtures/versions.yaml",
    "progressive/platforms/k8s_local/modules/k8s/go.mod",
    "progressive/platforms/k8s_local/modules/k8s/go.sum",
    "progressive/platforms/k8s_local/modules/etcd/go.mod",
    "progressive/platforms/k8s_local/modules/flagger/go.mod",
    "progressive/testing/__init__.py", "progressive/suites/__init__.py",
    "progressive/suites/conformance.ini", "progressive/py.typed",
)
# Run output and local state: never in an archive.
GENERATED = ("/out/", "allure-results", "allure-report", "conformance.yaml", "junit.xml",
             "__pycache__", ".pyc", "/.npm/", ".progressive/", ".tools/", "/.pytest_cache/",
             "/build/")


def tracked(top: str) -> set[str]:
    """The files git tracks under `top` (relative to it); a stray local file is no fixture."""
    out = subprocess.run(["git", "ls-files", top], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    return {line.removeprefix(f"{top}/") for line in out.splitlines() if line}


def _generated(names: list[str]) -> list[str]:
    return [n for n in names if any(g in f"/{n}" for g in GENERATED)]


def wheel_problems(wheel: Path) -> tuple[list[str], list[str]]:
    """(problems, names) of a wheel."""
    names = zipfile.ZipFile(wheel).namelist()
    problems = []
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    if tops != {"progressive"}:
        problems.append(f"top-level entries other than progressive: {sorted(tops - {'progressive'})}")
    problems += [f"missing {r}" for r in REQUIRED if r not in names]
    suites = {p.name for p in (REPO / "suites").glob("*.py")}
    problems += [f"missing suite {s}" for s in sorted(suites)
                 if f"progressive/suites/{s}" not in names]
    fixtures = tracked("fixtures")
    problems += [f"missing fixture {f}" for f in sorted(fixtures)
                 if f"progressive/fixtures/{f}" not in names]
    problems += [f"run output in the wheel: {n}" for n in _generated(names)]
    entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
    text = zipfile.ZipFile(wheel).read(entry_points).decode() if entry_points else ""
    for needed in ("progressive = progressive.cli:main", "progressive = progressive.pytest_plugin"):
        if needed not in text:
            problems.append(f"entry point missing: {needed}")
    return problems, names


def sdist_problems(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    return [f"run output in the sdist: {n}" for n in _generated(names)]


def main(paths: list[str]) -> int:
    problems: list[str] = []
    for path in map(Path, paths):
        if path.suffix == ".whl":
            found, names = wheel_problems(path)
            problems += found
            parts = Counter("/".join(n.split("/")[:2]) for n in names if n.startswith("progressive/"))
            print(f"{path.name}: {len(names)} files; "
                  + ", ".join(f"{k.removeprefix('progressive/')} {v}"
                              for k, v in parts.most_common() if v > 2))
        else:
            problems += sdist_problems(path)
            print(f"{path.name}: no run output")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
