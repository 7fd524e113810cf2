"""`progressive render --platform kind --out DIR [--spec SPEC.yaml] [--engine bundled|flagger]`

Writes every manifest and command a cluster run would apply, so that a user can review them
(for example with `istioctl analyze`) before running anything: the kind cluster config, the
Istio install config, the Prometheus addon reference and configuration, Croc Hunter, and for
each Canary of the spec its workloads, DestinationRules, the VirtualService at each weight step
and the Flagger Canary; `commands.sh` lists the command lines in order (for reading), and
`README.txt` says what to look at. Nothing here talks to a cluster or runs a binary.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Annotated

import typer

from progressive.errors import UserError
from progressive.fsutil import atomic_write
from progressive.kube import MANAGED_BY
from progressive.model.types import CanarySpec, Strategy, VirtualServiceSpec
from progressive.platforms.kind import manifests as m
from progressive.platforms.kind import pins
from progressive.platforms.kind.cluster import BOUNDS, ON_PATH, RUN_LABEL, Step
from progressive.platforms.kind.commands import (
    delete_labelled,
    delete_labelled_namespaces,
    kind_delete,
)
from progressive.platforms.kind.image import write_build_context
from progressive.platforms.kind.kubeconfig import RUN_KINDS, kubeconfig_plan
from progressive.platforms.kind.platform import CLUSTER_NAME, Layout, kind_plan
from progressive.resources import fixture
from progressive.routing import istio
from progressive.workloads.base import AppVersion
from progressive.workloads.kubernetes import (
    render_deployment,
    render_namespace,
    render_service,
)

DEFAULT_SPEC = fixture("specs", "seed-canary.yaml")
PLATFORMS = ("kind", "kubeconfig")
RENDER_RUN_ID = "render"  # the kubeconfig platform's namespace is progressive-<run id>


def route_steps(spec: CanarySpec) -> list[tuple[int, int, bool]]:
    """(primary, canary, mirrored) weights the run sets, in order, before promotion."""
    a = spec.analysis
    steps = [(100, 0, False)]
    if a.mirror:
        steps.append((100, 0, True))
    if a.strategy is Strategy.CANARY:
        steps += [(100 - w, w, False) for w in a.weight_sequence()]
    else:  # blue-green switches all traffic at once; A/B sends the matching requests
        steps.append((0, 100, False))
    return steps


def _write(path: Path, text: str, written: list[Path]) -> None:
    atomic_write(path, text)
    written.append(path)


def _canary_files(spec: CanarySpec, out: Path, gateway: str, labels: dict[str, str],
                  written: list[Path]) -> None:
    """What the bundled engine applies for one canary (workloads at v1 / v2 for review), and
    the Flagger Canary the flagger engine applies instead."""
    from progressive.engines.flagger import to_flagger_canary, to_flagger_metric_templates

    d = out / "manifests" / spec.name
    workloads = [render_namespace(spec.namespace, labels)]
    for name, version in ((spec.primary_name, "v1"), (spec.canary_name, "v2")):
        workloads += [render_deployment(name, spec.namespace, AppVersion(version=version),
                                        image=f"{m.IMAGE_REPO}:{version}", labels=labels),
                      render_service(name, spec.namespace, labels)]
    _write(d / "workloads.yaml", m.dump_all(workloads), written)
    _write(d / "destination-rules.yaml",
           m.dump_all(istio.render_destination_rules(spec, labels=labels)), written)
    for i, (primary, canary, mirrored) in enumerate(route_steps(spec)):
        vs = istio.render_virtual_service(spec, primary, canary, mirrored, gateway=gateway,
                                          labels=labels)
        suffix = "-mirrored" if mirrored else ""
        _write(d / f"step-{i:02d}-canary-{canary}{suffix}.yaml", m.dump_all([vs]), written)
    _write(out / "flagger" / f"{spec.name}.yaml",
           m.dump_all([*to_flagger_metric_templates(spec, labels), to_flagger_canary(spec, labels)]),
           written)


def render_run(platform: str, out: Path, spec_path: Path | None = None,
               engine: str = "bundled") -> list[Path]:
    """Write the run's manifests and commands under `out`; return the files written."""
    from progressive.model.validate import load_specs

    if platform not in PLATFORMS:
        raise UserError(f"render writes what a cluster run applies: --platform must be one of "
                        f"{', '.join(PLATFORMS)}, got {platform!r}")
    if engine not in ("bundled", "flagger"):
        raise UserError(f"--engine must be bundled or flagger, got {engine!r}")
    specs = load_specs(spec_path or DEFAULT_SPEC)
    unsupported = [s for s in specs if not isinstance(s, CanarySpec | VirtualServiceSpec)]
    if unsupported:
        raise UserError(f"{spec_path}: render handles Canary and VirtualService documents; "
                        f"{type(unsupported[0]).__name__.removesuffix('Spec')} is not one")
    out = Path(out).resolve()
    written: list[Path] = []
    layout = Layout(kubeconfig=out / "kubeconfig",
                    cluster_config=out / "cluster" / "kind-cluster.yaml",
                    istio_operator=out / "cluster" / "istio-operator.yaml",
                    prometheus_config=out / "cluster" / "prometheus-config.yaml",
                    app_manifests=out / "manifests" / "croc-hunter.yaml",
                    build_context=out / "image")
    bound = BOUNDS["delete"]
    if platform == "kind":
        write_build_context(layout.build_context)
        written.append(layout.dockerfile)
        gateway, labels = m.gateway_ref(), dict(MANAGED_BY)
        for src, dst in ((pins.CLUSTER_CONFIG, layout.cluster_config),
                         (pins.ISTIO_OPERATOR, layout.istio_operator),
                         (pins.PROMETHEUS_CONFIG, layout.prometheus_config)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            written.append(dst)
        _write(out / "cluster" / "prometheus-addon.txt",
               f"{pins.load_pins().prometheus_addon}\n", written)
        steps = kind_plan(layout)
        app_docs = m.render_croc_hunter()
        end = [Step(kind_delete("kind", CLUSTER_NAME, layout.kubeconfig), "delete the cluster", 0)]
    else:
        namespace = f"progressive-{RENDER_RUN_ID}"
        gateway = m.gateway_ref(namespace)
        labels = {**MANAGED_BY, RUN_LABEL: RENDER_RUN_ID}
        steps = kubeconfig_plan(layout.kubeconfig, layout.app_manifests, namespace)
        app_docs = m.render_croc_hunter(namespace, labels=labels, gateway_namespace=namespace)
        selector = f"{RUN_LABEL}={RENDER_RUN_ID}"
        end = [Step(delete_labelled("kubectl", layout.kubeconfig, RUN_KINDS, selector, bound),
                    f"delete the objects labelled {selector}", 0),
               Step(delete_labelled_namespaces("kubectl", layout.kubeconfig, selector, bound),
                    f"delete the namespaces labelled {selector}", 0)]
    _write(layout.app_manifests, m.dump_all(app_docs), written)
    for spec in specs:
        if isinstance(spec, CanarySpec):
            _canary_files(spec, out, gateway, labels, written)
        elif isinstance(spec, VirtualServiceSpec):
            _write(out / "manifests" / spec.name / "virtualservice.yaml",
                   m.dump_all([istio.render_virtual_service_spec(spec, labels=labels)]), written)
    if engine == "flagger":
        from progressive.platforms.kind.platform import flagger_install_steps as install_steps

        steps += install_steps(ON_PATH, layout.kubeconfig)
        steps += [Step(["kubectl", f"--kubeconfig={layout.kubeconfig}", "apply", "-f",
                        str(out / "flagger" / f"{s.name}.yaml")], f"create the Canary {s.name}", 0)
                  for s in specs if isinstance(s, CanarySpec)]
    _write(out / "commands.sh", _commands_sh(platform, engine, steps, end), written)
    _write(out / "README.txt", _readme(platform, engine, out, specs), written)
    return written


def _commands_sh(platform: str, engine: str, steps: list[Step], end: list[Step]) -> str:
    lines = [
        "#!/bin/sh",
        f"# What `progressive conformance --platform {platform} --engine {engine}` runs, in",
        "# order. For reading: the platform runs these itself, with absolute paths of the",
        "# binaries on PATH, its own state directory, and host ports it checked are free.",
        "set -eu",
    ]
    for step in steps:
        via = " (run through pytest-kind's KindCluster)" if step.via_pytest_kind else ""
        lines += ["", f"# {step.what}{via}", shlex.join(step.argv)]
    if engine == "bundled":
        lines += ["", "# the bundled engine then drives each canary through the Kubernetes API:",
                  "# manifests/<canary>/workloads.yaml, destination-rules.yaml and the",
                  "# VirtualService of manifests/<canary>/step-*.yaml, one step per interval"]
    for step in end:
        lines += ["", f"# at the end of the run (unless --keep-env): {step.what}",
                  shlex.join(step.argv)]
    return "\n".join(lines) + "\n"


def _readme(platform: str, engine: str, out: Path, specs: list) -> str:
    canary = next((s for s in specs if isinstance(s, CanarySpec)), None)
    example = ""
    if canary is not None:
        d = Path("manifests") / canary.name
        last = len(route_steps(canary)) - 1
        example = (f"\n    cd {out}\n    istioctl analyze --use-kube=false manifests/croc-hunter.yaml "
                   f"{d}/workloads.yaml {d}/destination-rules.yaml {d}/step-01-*.yaml\n\n"
                   f"  Analyse one step at a time (step-00 .. step-{last:02d}): every step file holds "
                   "the same\n  VirtualService at another weight, so two of them together "
                   "conflict.\n")
    return f"""What `progressive conformance --platform {platform} --engine {engine}` would apply.

commands.sh      the command lines, in order (for reading, not for running by hand)
cluster/         (kind) the kind cluster config (ports published on 127.0.0.1 only), the
                 IstioOperator, the Prometheus addon URL and the scrape configuration over it
image/           (kind) the Croc Hunter image's build context: its Dockerfile and the app
manifests/       Croc Hunter behind the ingress gateway, and per canary: its namespace and
                 workloads, the DestinationRules and the VirtualService at each weight step
                 (step-NN-canary-W.yaml: W% to the canary, the rest to the primary)
flagger/         the same canary as a Flagger v1beta1 Canary (+ MetricTemplates), as the
                 flagger engine applies it

What to review:
- the VirtualService steps: weights sum to 100, hosts and gateways are the ones you expect;
- with istioctl (no cluster needed):{example or ' istioctl analyze --use-kube=false FILES'}
- against a cluster, without changing it: kubectl apply --dry-run=server -f manifests/...;
- cluster/kind-cluster.yaml: the host ports (the run replaces a taken one by a free one).
"""


def register(app: typer.Typer) -> None:
    @app.command()
    def render(
        out: Annotated[Path, typer.Option("--out", help="Directory to write into.")],
        platform: Annotated[str, typer.Option("--platform", help="kind or kubeconfig.")] = "kind",
        spec: Annotated[Path | None, typer.Option(
            "--spec", help=f"Canary / VirtualService YAML (default {DEFAULT_SPEC.name}).")] = None,
        engine: Annotated[str, typer.Option("--engine", help="bundled or flagger.")] = "bundled",
    ) -> None:
        """Write every manifest and command a cluster run would apply, for review."""
        try:
            written = render_run(platform, out, spec, engine)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            # SystemExit, not typer.Exit: click run with standalone_mode=False (cli.main)
            # returns typer.Exit's code instead of raising it, and the code would be lost.
            raise SystemExit(2) from None
        typer.echo(f"wrote {len(written)} files under {out}; start with {out / 'README.txt'}")
