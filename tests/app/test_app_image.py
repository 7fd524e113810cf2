"""The Croc Hunter Dockerfile, checked offline (no Docker engine needed): what it copies is
everything the app imports, its pins match pyproject.toml, it runs as a numeric non-root user."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "progressive" / "app" / "Dockerfile").read_text()


def _instructions(keyword: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines()
            if line.split(None, 1)[:1] == [keyword]]


def _copied() -> set[str]:
    paths = set()
    for args in _instructions("COPY"):
        paths.update(args.split()[:-1])
    return paths


def _progressive_modules_imported_by_the_app() -> set[str]:
    found = set()
    for source in (ROOT / "progressive" / "app").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("progressive"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("progressive"))
    return found


def test_the_image_holds_every_progressive_module_the_app_imports():
    copied = _copied()
    for module in _progressive_modules_imported_by_the_app():
        parts = module.split(".")
        as_file = "/".join(parts) + ".py"
        in_copied_dir = any(module.startswith(d.rstrip("/").replace("/", ".")) for d in copied
                            if d.endswith("/"))
        assert as_file in copied or in_copied_dir, f"{module} is imported but not copied"
    assert "progressive/__init__.py" in copied


def test_the_image_pins_the_versions_of_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {d.split("==")[0].lower(): d for d in deps}
    installs = " ".join(_instructions("RUN"))
    for package in ("aiohttp", "prometheus-client"):
        assert pins[package] in installs


def test_the_image_runs_the_app_as_a_numeric_non_root_user_on_all_interfaces():
    user = _instructions("USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert json.loads(_instructions("CMD")[-1]) == [
        "python", "-m", "progressive.app", "--host", "0.0.0.0", "--port", "8080"]
    assert _instructions("FROM") == ["python:3.11-slim"]
