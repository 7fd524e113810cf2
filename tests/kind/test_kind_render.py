"""`progressive render`: every manifest and command of a cluster run, written for review."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
import yaml
from kind_support import SPECS
from typer.testing import CliRunner

from progressive.commands.render import register
from progressive.model.validate import parse_document
from progressive.platforms.kind.platform import Layout, kind_plan


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """progressive (as the lead wires it)."""

    register(app)
    return app


def render(cli: typer.Typer, *args: str):
    return CliRunner().invoke(cli, ["render", *args])


def command_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines()
            if ln.strip() and not ln.startswith("#") and ln != "set -eu"]


def test_the_default_run_writes_cluster_istio_prometheus_app_and_every_step(cli, tmp_path):
    out = tmp_path / "out"
    result = render(cli, "--platform", "kind", "--out", str(out))
    assert result.exit_code == 0, result.output
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
             and not p.relative_to(out).as_posix().startswith("image/")}
    canary = "jx-production-croc-hunter-jenkinsx"
    image = {p.relative_to(out / "image").as_posix() for p in (out / "image").rglob("*")
             if p.is_file()}
    assert {"Dockerfile", "progressive/__init__.py", "progressive/errors.py",
            "progressive/app/__main__.py"} <= image, image
    assert not any("__pycache__" in f for f in image), image
    assert files == {
        "README.txt", "commands.sh",
        "cluster/kind-cluster.yaml", "cluster/istio-operator.yaml",
        "cluster/prometheus-config.yaml", "cluster/prometheus-addon.txt",
        "manifests/croc-hunter.yaml", f"flagger/{canary}.yaml",
        f"manifests/{canary}/workloads.yaml", f"manifests/{canary}/destination-rules.yaml",
        *(f"manifests/{canary}/step-{i:02d}-canary-{w}.yaml"
          for i, w in enumerate((0, 10, 20, 30, 40, 50))),
    }
    for path in out.rglob("*.yaml"):
        assert all(isinstance(d, dict) for d in yaml.safe_load_all(path.read_text())), path
    assert "istioctl analyze --use-kube=false" in (out / "README.txt").read_text()
    assert (out / "cluster/prometheus-addon.txt").read_text().startswith("https://")


def test_the_steps_hold_the_seed_weights_summing_to_100(cli, tmp_path):
    out = tmp_path / "out"
    render(cli, "--out", str(out))
    weights = []
    for step in sorted((out / "manifests/jx-production-croc-hunter-jenkinsx").glob("step-*")):
        (vs,) = yaml.safe_load_all(step.read_text())
        (route,) = vs["spec"]["http"]
        pair = tuple(d["weight"] for d in route["route"])
        assert sum(pair) == 100
        weights.append(pair)
    assert weights == [(100, 0), (90, 10), (80, 20), (70, 30), (60, 40), (50, 50)]


def test_commands_sh_lists_exactly_what_the_platform_runs_in_order(cli, tmp_path):
    out = tmp_path / "out"
    render(cli, "--out", str(out))
    lines = command_lines((out / "commands.sh").read_text())
    layout = Layout(kubeconfig=out / "kubeconfig", cluster_config=out / "cluster/kind-cluster.yaml",
                    istio_operator=out / "cluster/istio-operator.yaml",
                    prometheus_config=out / "cluster/prometheus-config.yaml",
                    app_manifests=out / "manifests/croc-hunter.yaml",
                    build_context=out / "image")
    expected = [shlex.join(s.argv) for s in kind_plan(layout)]
    assert lines[:-1] == expected
    assert shlex.split(lines[-1])[:3] == ["kind", "delete", "cluster"]
    assert lines[0].split()[:3] == ["kind", "create", "cluster"]
    for line in lines:  # every line is quoted so that a shell reads back the same argv
        assert shlex.join(shlex.split(line)) == line


def test_the_flagger_engine_adds_its_install_and_canary(cli, tmp_path):
    out = tmp_path / "out"
    assert render(cli, "--out", str(out), "--engine", "flagger").exit_code == 0
    lines = command_lines((out / "commands.sh").read_text())
    assert any(" apply -k " in ln and "flagger" in ln for ln in lines)
    assert any(ln.endswith("flagger/jx-production-croc-hunter-jenkinsx.yaml") for ln in lines)
    (canary,) = yaml.safe_load_all((out / "flagger/jx-production-croc-hunter-jenkinsx.yaml")
                                   .read_text())
    assert parse_document(canary, "rendered").target == "jx-production-croc-hunter-jenkinsx"


def test_an_existing_cluster_gets_its_own_namespace_and_no_cluster_files(cli, tmp_path):
    out = tmp_path / "out"
    assert render(cli, "--platform", "kubeconfig", "--out", str(out)).exit_code == 0
    assert not (out / "cluster").exists()
    docs = list(yaml.safe_load_all((out / "manifests/croc-hunter.yaml").read_text()))
    assert docs[0]["metadata"]["name"] == "progressive-render"
    lines = command_lines((out / "commands.sh").read_text())
    assert not any(ln.startswith(("kind ", "docker ", "istioctl ")) for ln in lines)
    assert [shlex.split(ln)[2] for ln in lines[-2:]] == ["delete", "delete"]
    assert all("progressive.dev/run=render" in ln for ln in lines[-2:])  # removed by label


def test_a_virtual_service_spec_is_rendered_as_given(cli, tmp_path):
    out = tmp_path / "out"
    spec = SPECS / "seed-virtualservice-fixed.yaml"
    assert render(cli, "--out", str(out), "--spec", str(spec)).exit_code == 0
    (vs,) = yaml.safe_load_all((out / "manifests/croc-hunter-jenkinsx/virtualservice.yaml")
                               .read_text())
    assert [d["weight"] for d in vs["spec"]["http"][0]["route"]] == [99, 1]


@pytest.mark.parametrize(("args", "message"), [
    (["--platform", "local"], "--platform must be one of kind, kubeconfig"),
    (["--engine", "argo"], "--engine must be bundled or flagger"),
    (["--spec", "MISSING"], "no such file"),
    (["--spec", "BAD"], "spec.canaryAnalysis.stepWeight"),
    (["--spec", "APP"], "render handles Canary and VirtualService documents"),
])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(cli, tmp_path, args, message):
    bad = tmp_path / "bad.yaml"
    text = (SPECS / "seed-canary.yaml").read_text().replace("stepWeight: 10", "stepWeight: 150")
    bad.write_text(text)
    paths = {"MISSING": str(tmp_path / "nope.yaml"), "BAD": str(bad),
             "APP": str(SPECS / "application-shipper.yaml")}
    out = tmp_path / "out"
    result = render(cli, "--out", str(out), *[paths.get(a, a) for a in args])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_the_default_spec_is_the_seed():
    from progressive.commands.render import DEFAULT_SPEC

    assert DEFAULT_SPEC == SPECS / "seed-canary.yaml" and Path(DEFAULT_SPEC).exists()
