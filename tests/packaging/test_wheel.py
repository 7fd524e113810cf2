"""The wheel is the whole product: built from this tree, it holds one top-level package with the
suites, fixtures, Dockerfile, locustfile and wrapper modules, and no run output
(scripts/wheel_contents.py). scripts/wheel-check.sh installs it and runs it in CI."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _contents_module():
    spec = importlib.util.spec_from_file_location("wheel_contents",
                                                  REPO / "scripts" / "wheel_contents.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_package_of_the_tree_is_in_the_wheel_list():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    tree = {".".join(p.parent.relative_to(REPO).parts)
            for p in (REPO / "progressive").rglob("__init__.py")}
    assert tree - listed == set(), "packages missing from pyproject.toml [tool.setuptools]"
    assert listed - tree == {"progressive.suites", "progressive.fixtures"}
    assert config["package-dir"]["progressive.suites"] == "suites"
    assert config["package-dir"]["progressive.fixtures"] == "fixtures"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The sdist, then the wheel from it (in a clean directory: nothing stale from build/).
    # --no-isolation: setuptools from this venv, no download; scripts/wheel-check.sh isolates.
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation",
                           "--outdir", str(out), str(REPO)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_product_and_no_run_output(wheel):
    contents = _contents_module()
    problems, names = contents.wheel_problems(wheel)
    assert problems == []
    (sdist,) = wheel.parent.glob("*.tar.gz")
    assert contents.sdist_problems(sdist) == []
    assert "progressive/suites/test_canary_stepping.py" in names


def test_output_a_run_leaves_in_the_tree_stays_out_of_the_wheel(tmp_path):
    """A copy of the tracked tree with a run's leftovers planted where they used to be
    picked up (reports/out, __pycache__, a state dir) builds a wheel without them."""
    contents = _contents_module()
    src = tmp_path / "src"
    for rel in subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.splitlines():
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    planted = ["progressive/reports/out/conformance.yaml", "reports/out/junit.xml",
               "progressive/load/__pycache__/traffic.cpython-311.pyc",
               "fixtures/specs/__pycache__/x.pyc", "progressive/.progressive/platform.json"]
    for rel in planted:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("left over\n")
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--outdir", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert contents._generated(names) == []
    assert not [n for n in names if "left over" in n or n.endswith(".pyc")]
