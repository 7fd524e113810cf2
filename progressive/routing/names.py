"""How workloads are named on the data plane.

An Envoy cluster is named `NAMESPACE_WORKLOAD`: `_` cannot occur in a Kubernetes name, and
a name without dots keeps Envoy's stat tag extraction intact, so the Prometheus recording
rules can split `envoy_cluster_name` back into `destination_workload_namespace` and
`destination_workload` (regex `([^_]+)_(.+)`).
"""

from __future__ import annotations

CLUSTER_NAME_REGEX = "([^_]+)_(.+)"


def cluster_name(namespace: str, workload: str) -> str:
    return f"{namespace}_{workload}"


def split_cluster_name(name: str) -> tuple[str, str]:
    namespace, _, workload = name.partition("_")
    return namespace, workload


def workload_for_host(host: str, default_namespace: str) -> tuple[str, str]:
    """(namespace, workload) for an Istio destination host.

    `svc.ns.svc.cluster.local` and `svc.ns` name their namespace; a short `svc` lives in the
    VirtualService's own namespace.
    """
    parts = host.split(".")
    if len(parts) >= 2:
        return parts[1], parts[0]
    return default_namespace, parts[0]
