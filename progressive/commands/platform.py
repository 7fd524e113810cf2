"""`progressive up | down | status`: the local platform in the background."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from progressive import processes
from progressive.commands.output import cli_console
from progressive.errors import UserError

DEFAULT_STATE_DIR = Path(".progressive")
StateDir = typer.Option(DEFAULT_STATE_DIR, "--state-dir", help="Where pids, ports, configs and logs live.")
PlatformName = typer.Option("local", "--platform",
                            help="local (Envoy, Prometheus, app processes) or k8s-local (plus a "
                                 "real Kubernetes control plane)")


def _served_canary(path: Path | None):
    """The Canary whose primary `up` serves (InvalidSpec / UserError: exit 2)."""
    from progressive.model.types import CanarySpec
    from progressive.model.validate import load_spec
    from progressive.resources import fixture

    spec = load_spec(path or fixture("specs", "seed-canary.yaml"))
    if not isinstance(spec, CanarySpec):
        raise UserError(f"--spec {path}: a Canary is needed, found a {type(spec).__name__}")
    return spec


def _up_k8s_local(state_dir: Path, kubernetes_version: str | None, version: str | None,
                  replicas: int) -> None:
    from progressive.platforms.k8s_local.platform import K8sLocalPlatform

    if (Path(state_dir) / "platform.json").exists() and processes.recorded_processes(state_dir):
        typer.echo(f"already up (state dir {state_dir}); `progressive down` stops it")
        return
    processes.stop_all_recorded(state_dir)  # leftovers of a crashed run
    platform = K8sLocalPlatform(state_dir, die_with_parent=False,
                                kubernetes_version=kubernetes_version,
                                app_version=version, app_replicas=replicas)
    platform.up()
    typer.echo(f"gateway    {platform.gateway_url}"
               + ("  (Host croc-hunter.progressive.test)" if version else ""))
    typer.echo(f"prometheus {platform.prometheus_url}")
    typer.echo(f"kubeconfig {platform.kubeconfig}")
    typer.echo(f"state dir  {platform.state_dir}")


def register(app: typer.Typer) -> None:
    @app.command()
    def up(state_dir: Path = StateDir, platform_name: str = PlatformName,
           kubernetes_version: str | None = typer.Option(
               None, help="k8s-local: a Kubernetes release built beside the pinned one "
                          "(progressive tools install --kubernetes-version X.Y.Z)"),
           version: str = typer.Option("v1", "--version", help="the version Croc Hunter serves"),
           replicas: int | None = typer.Option(
               None, min=1, help="Croc Hunter's replicas (default 1 local, 3 k8s-local)"),
           no_app: bool = typer.Option(False, "--no-app", help="a bare platform: no app"),
           spec: Path | None = typer.Option(
               None, help="local: the Canary whose primary is served (default: the seed's; "
                          "`progressive rollout` of the same spec then rolls it)")) -> None:
        """Start a platform in the background, serving Croc Hunter, and return once it serves."""
        from progressive.platforms.local.platform import LocalPlatform

        if not version.strip():
            raise UserError("--version must name a version")
        if platform_name == "k8s-local":
            if spec is not None:
                raise UserError("--spec is for the local platform: k8s-local serves Croc Hunter "
                                "from its own Deployment")
            _up_k8s_local(state_dir, kubernetes_version, None if no_app else version,
                          replicas or 3)
            return
        if kubernetes_version:
            raise UserError("--kubernetes-version chooses the control plane of --platform "
                            "k8s-local")
        if platform_name != "local":
            raise UserError(f"`up` starts local or k8s-local, not {platform_name!r}")
        canary = None if no_app else _served_canary(spec)  # a bad spec stops before any start
        if LocalPlatform.is_running(state_dir):
            typer.echo(f"already up (state dir {state_dir}); `progressive down` stops it")
            return
        processes.stop_all_recorded(state_dir)  # leftovers of a crashed run
        platform = LocalPlatform(state_dir, die_with_parent=False)
        platform.up()
        try:
            if canary is not None:
                from progressive.rollout import serve

                serve(canary, platform, Path(state_dir), version, replicas or 1)
        except BaseException:
            platform.down()  # nothing is left running when the app could not be served
            raise
        platform.stop_supervisor()  # it ends with this command; the platform stays up
        typer.echo(f"gateway    {platform.gateway_url}")
        typer.echo(f"prometheus {platform.prometheus_url}")
        typer.echo(f"state dir  {platform.state_dir}")
        if canary is not None:
            typer.echo(f"serving    {canary.namespace}/{canary.primary_name} {version} "
                       f"({replicas or 1} replica{'s' if (replicas or 1) > 1 else ''}) at 100%: "
                       f"curl {platform.gateway_url}/ (or Host "
                       f"{platform.gateway_host(canary)})")

    @app.command()
    def down(state_dir: Path = StateDir) -> None:
        """Stop everything a platform (local or k8s-local) started, also after a crashed harness."""
        from progressive.platforms.local.platform import LocalPlatform

        if (Path(state_dir) / "platform.json").exists():
            try:
                LocalPlatform.attach(state_dir).down()
            except Exception:  # noqa: BLE001 - fall back to the pid records below
                pass
        stopped = processes.stop_all_recorded(Path(state_dir))
        (Path(state_dir) / "platform.json").unlink(missing_ok=True)
        typer.echo(f"down ({len(stopped)} leftover processes stopped)" if stopped else "down")

    @app.command()
    def status(
        state_dir: Path = StateDir,
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Show the gateway and Prometheus URLs and, per workload, replicas, ports and readiness."""
        from progressive.platforms.k8s_local.platform import K8sLocalPlatform
        from progressive.platforms.local.platform import LocalPlatform

        k8s_local = K8sLocalPlatform.is_running(state_dir)
        if not k8s_local and not LocalPlatform.is_running(state_dir):
            if as_json:
                typer.echo(json.dumps({"running": False, "state_dir": str(state_dir)}))
            else:
                typer.echo(f"not running (state dir {state_dir})")
            raise typer.Exit(1)
        platform = (K8sLocalPlatform.attach(state_dir) if k8s_local
                    else LocalPlatform.attach(state_dir))
        info = platform.status()
        info["running"] = True
        if as_json:
            typer.echo(json.dumps(info, indent=1))
            return
        console = cli_console()
        console.print(f"gateway    {info['gateway_url']}  alive={info['gateway_alive']}")
        console.print(f"prometheus {info['prometheus_url']}  alive={info['prometheus_alive']}")
        if "kubeconfig" in info:
            console.print(f"kubeconfig {info['kubeconfig']}")
        console.print(workload_table(info["workloads"]))


def workload_table(workloads: dict[str, dict]) -> Table:
    """`status`'s workloads: version, replicas, ready replicas and ports of each."""
    table = Table("workload", "version", "replicas", "ready", "ports")
    for name, wl in workloads.items():
        table.add_row(name, wl["version"], str(wl["replicas"]), str(wl["ready"]),
                      ",".join(map(str, wl["ports"])))
    return table
