"""The documents a cluster run applies, rendered by pure functions.

- the kind cluster config: fixtures/kind/cluster.yaml with each published host port kept when
  it is free on this machine, else replaced by one the OS picks (always on 127.0.0.1);
- the Croc Hunter bundle: its Namespace (sidecar injection on), Deployment (3 replicas,
  probes on /healthz:8080), Service 80 -> 8080, the ingress Gateway and a VirtualService
  sending the gateway's traffic to it. fixtures/kind/croc-hunter.yaml is this bundle for the
  kind platform, checked in so it can be reviewed (a test keeps the two equal).
Used by the platforms in this package and by `progressive render`.
"""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import yaml

from progressive.kube import MANAGED_BY
from progressive.model.types import Destination, HttpRoute, VirtualServiceSpec
from progressive.processes import LOOPBACK, free_port
from progressive.routing.istio import ISTIO_API, render_virtual_service_spec
from progressive.workloads.base import AppVersion
from progressive.workloads.kubernetes import (
    render_deployment,
    render_namespace,
    render_service,
)

APP_NAME = "croc-hunter"
APP_NAMESPACE = "croc-hunter"
# The platform's own Croc Hunter answers on a host no spec uses: two VirtualServices claiming
# one host on one gateway would share its traffic (the seed's is croc-hunter.istio.example.com).
APP_HOST = "croc-hunter.progressive.test"
INITIAL_VERSION = AppVersion(version="v1")
IMAGE_REPO = "croc-hunter"
GATEWAY_NAME = "public-gateway"  # the seed's Gateway: public-gateway.istio-system.svc.cluster.local
GATEWAY_NAMESPACE = "istio-system"


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


class _PlainDumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # no &anchors: every document reads on its own
        return True


def dump_all(docs: list[dict]) -> str:
    return yaml.dump_all(docs, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def host_port_mappings(config: dict) -> list[dict]:
    return [m for node in config.get("nodes", []) for m in node.get("extraPortMappings", [])]


def with_free_host_ports(config: dict, is_free=port_is_free) -> dict:
    """A copy of a kind config whose published ports are free on 127.0.0.1 right now."""
    out = copy.deepcopy(config)
    for mapping in host_port_mappings(out):
        mapping["listenAddress"] = LOOPBACK
        if not is_free(mapping["hostPort"]):
            mapping["hostPort"] = free_port()
    return out


def render_gateway(labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": ISTIO_API, "kind": "Gateway",
            "metadata": {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE,
                         "labels": {**MANAGED_BY, **(labels or {})}},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                  "hosts": ["*"]}]}}


def gateway_ref(gateway_namespace: str = GATEWAY_NAMESPACE) -> str:
    return f"{gateway_namespace}/{GATEWAY_NAME}"


def render_croc_hunter(namespace: str = APP_NAMESPACE, *, app: AppVersion = INITIAL_VERSION,
                       image_repo: str = IMAGE_REPO, labels: dict[str, str] | None = None,
                       gateway_namespace: str = GATEWAY_NAMESPACE, with_namespace: bool = True,
                       replicas: int = 3) -> list[dict]:
    """Croc Hunter behind the ingress gateway, as the platform deploys it before any rollout."""
    labels = {**MANAGED_BY, **(labels or {})}
    route = VirtualServiceSpec(
        name=APP_NAME, namespace=namespace, hosts=(APP_HOST, APP_NAME),
        gateways=(gateway_ref(gateway_namespace), "mesh"),
        http=(HttpRoute(route=(Destination(host=APP_NAME, weight=100),)),),
    )
    gateway = render_gateway(labels)
    gateway["metadata"]["namespace"] = gateway_namespace
    docs = [render_namespace(namespace, labels)] if with_namespace else []
    return docs + [
        render_deployment(APP_NAME, namespace, app, image=f"{image_repo}:{app.version}",
                          replicas=replicas, labels=labels),
        render_service(APP_NAME, namespace, labels),
        gateway,
        render_virtual_service_spec(route, labels=labels),
    ]
