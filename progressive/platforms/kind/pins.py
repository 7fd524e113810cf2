"""Where the kind platform's checked-in files live, and the versions it pins.

The versions are read from `fixtures/kind/versions.yaml` (one place for the platform, the
`render` command, the docs and the CI workflow's checks). Used by preflight, the platforms in
this package, `engines/flagger.py` and `commands/render.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
KIND_FIXTURES = REPO_ROOT / "fixtures" / "kind"
VERSIONS_FILE = KIND_FIXTURES / "versions.yaml"
CLUSTER_CONFIG = KIND_FIXTURES / "cluster.yaml"
ISTIO_OPERATOR = KIND_FIXTURES / "istio-operator.yaml"
PROMETHEUS_CONFIG = KIND_FIXTURES / "prometheus-config.yaml"
CROC_HUNTER_MANIFESTS = KIND_FIXTURES / "croc-hunter.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"

# The NodePorts fixtures/kind/istio-operator.yaml and prometheus-config give the two services;
# fixtures/kind/cluster.yaml publishes them on the host.
GATEWAY_NODE_PORT = 30080
PROMETHEUS_NODE_PORT = 30090


@dataclass(frozen=True)
class Pins:
    kind: str
    node_image: str
    kubectl: str
    istio: str
    prometheus_addon: str
    flagger: str
    flagger_kustomize: str

    @property
    def kubectl_minor(self) -> str:
        """`v1.31` for `v1.31.0`: kubectl should be within one minor version of the cluster."""
        return ".".join(self.kubectl.split(".")[:2])


@cache
def load_pins(path: Path = VERSIONS_FILE) -> Pins:
    data = yaml.safe_load(Path(path).read_text())
    return Pins(
        kind=data["kind"],
        node_image=data["nodeImage"],
        kubectl=data["kubectl"],
        istio=str(data["istio"]),
        prometheus_addon=data["prometheusAddon"],
        flagger=str(data["flagger"]),
        flagger_kustomize=data["flaggerKustomize"],
    )
