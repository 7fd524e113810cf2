"""The command lines the cluster platforms run, built by pure functions (argv lists).

The platforms execute them through `runner.Runner`; `progressive render` writes them to
commands.sh; tests compare both with what a recording fake of each binary received. The first
argument of each function is the binary (a name, or an absolute path from PATH).
`kind_create` and `kind_delete` are what pytest-kind's KindCluster runs (argv for argv): the
platform lets KindCluster run those two and this module only describes them.
"""

from __future__ import annotations

import json
from pathlib import Path


def kind_get_clusters(kind: str) -> list[str]:
    return [kind, "get", "clusters"]


def kind_create(kind: str, name: str, kubeconfig: Path, config: Path) -> list[str]:
    return [kind, "create", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig}",
            "--config", str(config)]


def kind_delete(kind: str, name: str, kubeconfig: Path) -> list[str]:
    return [kind, "delete", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig}"]


def kind_export_kubeconfig(kind: str, name: str, kubeconfig: Path) -> list[str]:
    return [kind, "export", "kubeconfig", f"--name={name}", f"--kubeconfig={kubeconfig}"]


def kind_load(kind: str, name: str, image: str) -> list[str]:
    return [kind, "load", "docker-image", "--name", name, image]


def kind_export_logs(kind: str, name: str, dest: Path) -> list[str]:
    return [kind, "export", "logs", str(dest), f"--name={name}"]


def docker_info(docker: str) -> list[str]:
    return [docker, "info", "--format", "{{.ServerVersion}}"]


def docker_build(docker: str, tag: str, dockerfile: Path, context: Path) -> list[str]:
    return [docker, "build", "-t", tag, "-f", str(dockerfile), str(context)]


def docker_tag(docker: str, source: str, target: str) -> list[str]:
    return [docker, "tag", source, target]


def docker_port(docker: str, container: str, port: int) -> list[str]:
    """Prints the host address a container port is published on (`127.0.0.1:31080`)."""
    return [docker, "port", container, f"{port}/tcp"]


def kubectl(kubectl_bin: str, kubeconfig: Path, *args: str) -> list[str]:
    """kubectl against one kubeconfig (given by path: its content never appears anywhere)."""
    return [kubectl_bin, f"--kubeconfig={kubeconfig}", *args]


def wait_nodes_ready(kubectl_bin: str, kubeconfig: Path, timeout_s: int) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "wait", "--for=condition=Ready", "nodes", "--all",
                   f"--timeout={timeout_s}s")


def rollout_status(kubectl_bin: str, kubeconfig: Path, namespace: str, deployment: str,
                   timeout_s: int) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "-n", namespace, "rollout", "status",
                   f"deployment/{deployment}", f"--timeout={timeout_s}s")


def rollout_restart(kubectl_bin: str, kubeconfig: Path, namespace: str,
                    deployment: str) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "-n", namespace, "rollout", "restart",
                   f"deployment/{deployment}")


def apply_file(kubectl_bin: str, kubeconfig: Path, path_or_url: str | Path) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "apply", "-f", str(path_or_url))


def apply_kustomize(kubectl_bin: str, kubeconfig: Path, ref: str) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "apply", "-k", ref)


def get(kubectl_bin: str, kubeconfig: Path, namespace: str | None, *what: str) -> list[str]:
    scope = ["-n", namespace] if namespace else []
    return kubectl(kubectl_bin, kubeconfig, *scope, "get", *what)


def expose_node_port(kubectl_bin: str, kubeconfig: Path, namespace: str, service: str,
                     port_name: str, port: int, node_port: int) -> list[str]:
    """Make a ClusterIP service a NodePort one (JSON merge patch: the ports list is replaced)."""
    patch = {"spec": {"type": "NodePort", "ports": [
        {"name": port_name, "port": port, "targetPort": port, "nodePort": node_port,
         "protocol": "TCP"}]}}
    return kubectl(kubectl_bin, kubeconfig, "-n", namespace, "patch", "service", service,
                   "--type=merge", "-p", json.dumps(patch, separators=(",", ":")))


def port_forward(kubectl_bin: str, kubeconfig: Path, namespace: str, target: str,
                 local_port: int, remote_port: int) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "-n", namespace, "port-forward", "--address",
                   "127.0.0.1", target, f"{local_port}:{remote_port}")


def delete_labelled(kubectl_bin: str, kubeconfig: Path, kinds: str, selector: str,
                    timeout_s: int) -> list[str]:
    """Delete every object of `kinds` (comma separated) carrying `selector`, in all namespaces."""
    return kubectl(kubectl_bin, kubeconfig, "delete", kinds, "--all-namespaces", "-l", selector,
                   "--ignore-not-found", "--wait=true", f"--timeout={timeout_s}s")


def delete_labelled_namespaces(kubectl_bin: str, kubeconfig: Path, selector: str,
                               timeout_s: int) -> list[str]:
    return kubectl(kubectl_bin, kubeconfig, "delete", "namespace", "-l", selector,
                   "--ignore-not-found", "--wait=true", f"--timeout={timeout_s}s")


def istio_install(istioctl: str, kubeconfig: Path, operator_file: Path) -> list[str]:
    """Install (or upgrade in place) Istio from an IstioOperator file; istioctl waits for it."""
    return [istioctl, "install", "-y", f"--kubeconfig={kubeconfig}", "-f", str(operator_file)]
