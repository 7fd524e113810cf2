"""The wheel is the whole product: built from this tree, it holds one top-level package with the
suites, fixtures, Dockerfile, locustfile and wrapper modules, and no run output
(scripts/wheel_contents.py). scripts/wheel-check.sh installs it and runs it in CI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
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


def test_run_output_in_the_tree_stays_out_of_the_wheel(tmp_path):
    """Output a local run leaves where it used to be picked up is recognised as such."""
    contents = _contents_module()
    leftovers = ["progressive/reports/out/conformance.yaml",
                 "progressive/reports/out/allure-results/x-result.json",
                 "progressive/load/__pycache__/traffic.cpython-311.pyc"]
    assert contents._generated(leftovers) == leftovers
    assert contents._generated(["progressive/fixtures/specs/seed-canary.yaml"]) == []
