"""Shared pieces of the kind platform's tests.

Offline (everything here runs without Docker or a cluster): a recording fake of the cluster
binaries on PATH (acceptable only for these tests: it checks the exact command lines), an
in-memory double of progressive/kube.KubeObjects (the project's own seam to the API server)
and the fixture specs. Tests marked `kind` need a real kind cluster; they are skipped, with the
reason preflight() gives, on a machine without Docker, kind, kubectl or istioctl.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from kind_support import MemoryObjects, spec

from progressive.model.types import CanarySpec

FAKE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: kind-fake
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: kind-fake
  context: {cluster: kind-fake, user: kind-fake}
current-context: kind-fake
users:
- name: kind-fake
  user: {}
"""
# Appends its argv to calls.jsonl; answers from responses.json (the first key that prefixes
# "NAME ARG ARG ..."), else prints nothing and exits 0. `kind ... --kubeconfig=F` writes F, as
# the real kind does (pytest-kind reads it back).
FAKE_BINARY = """#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).resolve().parent
name = Path(sys.argv[0]).name
with open(here / "calls.jsonl", "a") as f:
    f.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
if name == "kind":
    for arg in sys.argv[1:]:
        if arg.startswith("--kubeconfig="):
            Path(arg.split("=", 1)[1]).write_text({kubeconfig!r})
key = " ".join([name, *sys.argv[1:]])
answers = json.loads((here / "responses.json").read_text())
for prefix, answer in answers.items():
    if key.startswith(prefix):
        sys.stdout.write(answer.get("stdout", ""))
        sys.stderr.write(answer.get("stderr", ""))
        sys.exit(answer.get("rc", 0))
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kind: needs a real kind cluster (Docker, kind, kubectl, "
                            "istioctl); skipped with the reason when they are missing")


class FakeBinaries:
    """A PATH directory of recording fakes; `calls()` is every argv received, in order."""

    def __init__(self, directory: Path, names: tuple[str, ...]):
        self.dir = directory
        self.names = names
        self.answers: dict[str, dict] = {}
        for name in names:
            path = directory / name
            path.write_text(FAKE_BINARY.format(python=sys.executable, kubeconfig=FAKE_KUBECONFIG))
            path.chmod(0o755)
        self._save()

    def answer(self, prefix: str, stdout: str = "", rc: int = 0, stderr: str = "") -> None:
        self.answers[prefix] = {"stdout": stdout, "rc": rc, "stderr": stderr}
        self._save()

    def _save(self) -> None:
        (self.dir / "responses.json").write_text(json.dumps(self.answers))

    def calls(self) -> list[list[str]]:
        log = self.dir / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def path(self, name: str) -> str:
        return str(self.dir / name)


@pytest.fixture
def fake_bins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeBinaries:
    """kind, kubectl, istioctl and docker as recording fakes, alone on PATH."""
    directory = tmp_path / "bin"
    directory.mkdir()
    fakes = FakeBinaries(directory, ("kind", "kubectl", "istioctl", "docker"))
    monkeypatch.setenv("PATH", str(directory))
    monkeypatch.chdir(tmp_path)  # pytest-kind writes .pytest-kind/ in the working directory
    return fakes


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects()


@pytest.fixture
def seed() -> CanarySpec:
    """The seed's Canary (stepWeight 10 up to 50, every 15 s)."""
    return spec("seed-canary.yaml")
