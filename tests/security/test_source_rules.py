"""Rules every Python file of the project keeps, checked on the source (AST), not by review:

- no shell: no `shell=True` in any call, no os.system / os.popen / subprocess.getoutput /
  getstatusoutput / asyncio.create_subprocess_shell (commands are argv lists); ruff's S602,
  S604 and S605 say the same in pyproject.toml and must stay enabled;
- safe YAML only: loading through yaml.safe_load / safe_load_all (or a yaml.SafeLoader),
  dumping through yaml.safe_dump / safe_dump_all, or yaml.dump / dump_all with a Dumper that
  is a yaml.SafeDumper subclass; never yaml.load, full_load, unsafe_load, the unsafe Loader
  classes or a constructor registered on them (ruff's S506 is enabled too).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("progressive", "load", "reports", "suites", "bench", "tests")
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
               ("subprocess", "getstatusoutput"), ("asyncio", "create_subprocess_shell")}
YAML_SAFE_LOAD = {"safe_load", "safe_load_all", "SafeLoader"}
YAML_SAFE_DUMP = {"safe_dump", "safe_dump_all", "SafeDumper"}
YAML_UNSAFE = {"load", "load_all", "full_load", "full_load_all", "unsafe_load",
               "unsafe_load_all", "Loader", "FullLoader", "UnsafeLoader", "CLoader",
               "CFullLoader", "CUnsafeLoader", "BaseLoader", "Dumper", "CDumper",
               "add_constructor", "add_multi_constructor", "add_implicit_resolver"}


def python_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py")
                  if ".hypothesis" not in p.parts)


def dotted(node: ast.AST) -> tuple[str, ...]:
    """`a.b.c` as ("a", "b", "c"); () for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return (node.id, *reversed(parts))
    return ()


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


def shell_uses(path: Path, tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                          and kw.value.value is False):
                found.append(f"{where(path, node)}: shell={ast.unparse(kw.value)}")
        name = dotted(node.func)
        if name[-2:] in SHELL_CALLS:
            found.append(f"{where(path, node)}: {'.'.join(name)}()")
    return found


def safe_dumpers(tree: ast.AST) -> set[str]:
    """Names of classes in the module that derive from yaml.SafeDumper (directly or not)."""
    names, grew = {"SafeDumper"}, True
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    while grew:
        grew = False
        for c in classes:
            if c.name not in names and any(dotted(b)[-1:] and dotted(b)[-1] in names
                                           for b in c.bases):
                names.add(c.name)
                grew = True
    return names


def yaml_uses(path: Path, tree: ast.AST) -> list[str]:
    found = []
    dumpers = safe_dumpers(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "yaml":
            found += [f"{where(path, node)}: from yaml import {a.name}" for a in node.names
                      if a.name in YAML_UNSAFE]
        if isinstance(node, ast.Attribute) and dotted(node)[:1] == ("yaml",):
            attr = dotted(node)[1] if len(dotted(node)) > 1 else ""
            if attr in YAML_UNSAFE:
                found.append(f"{where(path, node)}: yaml.{attr}")
        if isinstance(node, ast.Call) and dotted(node.func) in (("yaml", "dump"),
                                                                 ("yaml", "dump_all")):
            dumper = next((kw.value for kw in node.keywords if kw.arg == "Dumper"), None)
            if dumper is None or dotted(dumper)[-1:] == () or dotted(dumper)[-1] not in dumpers:
                found.append(f"{where(path, node)}: {ast.unparse(node.func)} without a SafeDumper")
    return found


def scan(rule) -> list[str]:
    found = []
    for path in python_files():
        found += rule(path, ast.parse(path.read_text(), filename=str(path)))
    return found


def test_the_scan_sees_the_project():
    files = python_files()
    assert len(files) > 100 and REPO / "progressive" / "cli.py" in files


def test_no_shell_anywhere():
    assert scan(shell_uses) == []


def test_only_safe_yaml():
    assert scan(yaml_uses) == []


def test_ruff_keeps_the_shell_and_yaml_rules():
    lint = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"S602", "S604", "S605", "S506"} <= set(lint["select"])
    assert not {"S602", "S604", "S605", "S506"} & set(lint.get("ignore", []))


@pytest.mark.parametrize(("source", "rule", "expected"), [
    ("import subprocess\nsubprocess.run('ls', shell=True)", shell_uses, "shell=True"),
    ("import subprocess as sp\nsp.Popen(cmd, shell=flag)", shell_uses, "shell=flag"),
    ("import os\nos.system('ls')", shell_uses, "os.system()"),
    ("import yaml\nyaml.load(text, Loader=yaml.Loader)", yaml_uses, "yaml.load"),
    ("from yaml import full_load", yaml_uses, "from yaml import full_load"),
    ("import yaml\nyaml.dump(doc)", yaml_uses, "without a SafeDumper"),
    ("import yaml\nyaml.add_constructor('!x', f)", yaml_uses, "yaml.add_constructor"),
])
def test_the_rules_catch_what_they_forbid(source, rule, expected):
    found = rule(REPO / "example.py", ast.parse(source))
    assert found and expected in found[0], found


@pytest.mark.parametrize(("source", "rule"), [
    ("import subprocess\nsubprocess.run(['ls'], shell=False)", shell_uses),
    ("import yaml\nyaml.safe_load(t); yaml.safe_load_all(t); yaml.safe_dump(d)", yaml_uses),
    ("import yaml\nclass D(yaml.SafeDumper): pass\nyaml.dump_all(docs, Dumper=D)", yaml_uses),
    ("import yaml\nloader = yaml.SafeLoader(text)", yaml_uses),
])
def test_the_rules_let_the_safe_forms_through(source, rule):
    assert rule(REPO / "example.py", ast.parse(source)) == []
