"""Where the kind platform's checked-in files live, and the versions it pins.

The versions are read from the `kind:` mapping of `fixtures/versions.yaml`, the one versions file
of every platform (one place for the platform, the `render` command, the docs and the CI
workflow's checks). Flagger and Istio come from that file's shared top-level `flagger` and
`istioApi`, so both platforms run the same releases; `{flagger}` and `{istio}` in a kind value
stand for them. Used by preflight, the platforms in this package, `engines/flagger.py` and
`commands/render.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from progressive.resources import fixture

KIND_FIXTURES = fixture("kind")
VERSIONS_FILE = fixture("versions.yaml")
CLUSTER_CONFIG = KIND_FIXTURES / "cluster.yaml"
ISTIO_OPERATOR = KIND_FIXTURES / "istio-operator.yaml"
PROMETHEUS_CONFIG = KIND_FIXTURES / "prometheus-config.yaml"
CROC_HUNTER_MANIFESTS = KIND_FIXTURES / "croc-hunter.yaml"

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
        """`v1.35` for `v1.35.8`: kubectl should be within one minor version of the cluster."""
        return ".".join(self.kubectl.split(".")[:2])


@cache
def load_pins(path: Path = VERSIONS_FILE) -> Pins:
    data = yaml.safe_load(Path(path).read_text())
    kind = data["kind"]
    shared = {"istio": str(data["istioApi"]), "flagger": str(data["flagger"])}
    return Pins(
        kind=kind["kind"],
        node_image=kind["nodeImage"],
        kubectl=kind["kubectl"],
        istio=shared["istio"],
        prometheus_addon=kind["prometheusAddon"].format(**shared),
        flagger=shared["flagger"],
        flagger_kustomize=kind["flaggerKustomize"].format(**shared),
    )
