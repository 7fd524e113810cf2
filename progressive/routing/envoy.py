"""The Router for the local Envoy gateway: canary splits and VirtualServices as RDS routes.

One Envoy virtual host per canary or VirtualService, named `NAMESPACE/NAME`, with the
object's hosts and name as domains. Envoy refuses a domain claimed by two virtual hosts, so
the most recently *applied* one (created by `reconcile` or a first `set_routes`, or applied
again by `apply_virtual_service`) keeps a contested domain and also gets the catch-all `*`:
requests to the bare gateway URL reach the route a user applied last. Changing weights does
not reorder. A virtual host left with no domain of its own answers to
`NAME.NAMESPACE.progressive.invalid` only.

The desired state of all virtual hosts is kept in `STATE/routes.json` (under a file lock,
written atomically) so that any process, a CLI command or a restarted engine, renders the
complete route configuration; `get_routes` still reads the weights Envoy is *serving*, from
its admin `/config_dump`. Every change returns only once Envoy confirmed it.

Called by the engine through the Router seam (routing/base.py); built by the local platform.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from progressive.fsutil import atomic_write
from progressive.model.types import CanarySpec, VirtualServiceSpec
from progressive.routing.base import RouterError, Routes
from progressive.routing.names import cluster_name
from progressive.routing.virtualservice import (
    ROUTE_DEFAULTS,
    ClusterOf,
    destination_cluster,
    domains_for,
    mirror_policy,
    route_match,
    translate,
    virtual_host_name,
)


class Gateway(Protocol):
    """What the router needs of the Envoy gateway (platforms/local/envoy.py's EnvoyGateway):
    routing does not depend on a platform, the platform hands its gateway in."""

    def set_route_config(self, route_config: dict) -> None:
        """Replace the RouteConfiguration and return once Envoy confirmed it."""

    def route_config_file(self) -> dict:
        """The RouteConfiguration in the RDS file (what Envoy loads on restart)."""

    def live_route_config(self) -> dict | None:
        """The RouteConfiguration Envoy is serving now."""


CLUSTER_HEADER = "x-progressive-cluster"
DEFAULT_ROUTE = "default"


class EnvoyRouter:
    def __init__(self, gateway: Gateway, state_dir: Path):
        self.gateway = gateway
        self.state_path = Path(state_dir) / "routes.json"
        self.lock_path = Path(state_dir) / "routes.lock"

    # -- the Router seam --------------------------------------------------------------------

    def reconcile(self, canary: CanarySpec) -> None:
        """Create the canary's route at 100/0 if missing; keep the weights it has."""
        with self._editing() as hosts:
            entry = hosts.get(_key(canary))
            w = entry.get("weights") if entry else None
            if w is None:
                w = {"primary": 100, "canary": 0, "mirrored": False}
            self._put_canary(hosts, canary, w["primary"], w["canary"], w["mirrored"])

    def set_routes(
        self, canary: CanarySpec, primary_weight: int, canary_weight: int, mirrored: bool = False
    ) -> None:
        """Route primary/canary by these weights (A/B: matching requests only); return once live."""
        for label, w in (("primary", primary_weight), ("canary", canary_weight)):
            if isinstance(w, bool) or not isinstance(w, int) or w < 0:
                raise RouterError(
                    f"{_key(canary)}: {label} weight must be an integer >= 0, got {w!r}"
                )
        if primary_weight + canary_weight == 0:
            raise RouterError(f"{_key(canary)}: weights 0/0 would route nowhere; refused")
        with self._editing() as hosts:
            self._put_canary(hosts, canary, primary_weight, canary_weight, mirrored)

    def get_routes(self, canary: CanarySpec, cluster_of: ClusterOf | None = None) -> Routes:
        """The weights Envoy serves now (the A/B match route's, when the canary has one).
        `cluster_of` where the primary's and canary's clusters are not named after them."""
        live = self.gateway.live_route_config() or {}
        key = _key(canary)
        vhost = next((v for v in live.get("virtual_hosts", []) if v.get("name") == key), None)
        if vhost is None or not vhost.get("routes"):
            raise RouterError(f"the gateway serves no route for {key}")
        primary, canary_cluster = (_clusters(canary) if cluster_of is None else
                                   (cluster_of(canary.primary_name, canary.namespace),
                                    cluster_of(canary.canary_name, canary.namespace)))
        weights = route_weights(vhost["routes"][0])
        mirrored = any(
            p.get("cluster") == canary_cluster
            for r in vhost["routes"]
            for p in r.get("route", {}).get("request_mirror_policies", [])
        )
        return Routes(weights.get(primary, 0), weights.get(canary_cluster, 0), mirrored)

    def finalize(self, canary: CanarySpec) -> None:
        with self._editing() as hosts:
            for key in (_key(canary), *(_service_key(canary, w) for w in _workloads(canary))):
                hosts.pop(key, None)

    def apply_virtual_service(self, vs: VirtualServiceSpec, document: dict | None = None,
                              cluster_of: ClusterOf = destination_cluster) -> None:
        """Apply a VirtualService (InvalidSpec for what the gateway cannot do, also in the raw
        `document` when given); it becomes the most recently applied virtual host.
        `cluster_of`: see virtualservice.translate."""
        vhost = translate(vs, document, cluster_of)
        with self._editing() as hosts:
            hosts.pop(vhost["name"], None)
            hosts[vhost["name"]] = {"kind": "virtual-service", "seq": _next_seq(hosts),
                                    "virtual_host": vhost}  # fmt: skip

    # -- more than the seam -----------------------------------------------------------------

    def remove(self, namespace: str, name: str) -> None:
        """Delete the virtual host of a canary or VirtualService (no error when absent)."""
        with self._editing() as hosts:
            hosts.pop(virtual_host_name(namespace, name), None)

    def virtual_hosts(self, kind: str | None = None) -> list[str]:
        """Names of the virtual hosts in the desired state (of one `kind`: "canary",
        "virtual-service", "service"), most recently applied first."""
        hosts = self._load()
        names = [k for k in hosts if kind is None or hosts[k]["kind"] == kind]
        return sorted(names, key=lambda k: hosts[k]["seq"], reverse=True)

    def serve_services(self, services: dict[tuple[str, str], str]) -> None:
        """Replace the Services' own hosts: (namespace, service) -> its cluster. Each answers
        on `SERVICE.NAMESPACE[.svc[.cluster.local]]` unless a VirtualService claims that host
        (a Service is never the newest virtual host, so never the catch-all either)."""
        with self._editing() as hosts:
            for key in [k for k, v in hosts.items() if v["kind"] == "service"]:
                del hosts[key]
            for (namespace, service), cluster in sorted(services.items()):
                key = f"{namespace}/service:{service}"
                hosts[key] = {"kind": "service", "seq": -1, "virtual_host":
                              service_virtual_host(namespace, service, cluster, key)}

    def render(self) -> dict:
        """The complete RouteConfiguration for the desired state (as written to the RDS file)."""
        return render_route_config(self._load())

    # -- internals --------------------------------------------------------------------------

    def _put_canary(self, hosts: dict, canary: CanarySpec, primary_w: int, canary_w: int,
                    mirrored: bool) -> None:  # fmt: skip
        key = _key(canary)
        old = hosts.get(key)
        seq = old["seq"] if old and old["kind"] == "canary" else _next_seq(hosts)
        hosts[key] = {
            "kind": "canary",
            "seq": seq,
            "weights": {"primary": primary_w, "canary": canary_w, "mirrored": mirrored},
            "virtual_host": canary_virtual_host(canary, primary_w, canary_w, mirrored),
        }
        for workload in _workloads(canary):  # each side's own address, like its Service
            hosts[_service_key(canary, workload)] = {
                "kind": "service",
                "seq": -1,  # never the newest: a Service never takes the catch-all `*`
                "virtual_host": service_virtual_host(canary.namespace, workload),
            }

    def _load(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())["virtual_hosts"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError) as exc:
            raise RouterError(f"unreadable route state {self.state_path}: {exc}") from None

    @contextmanager
    def _editing(self) -> Iterator[dict]:
        """Change the desired state under the lock; publish it to Envoy; persist once live."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                hosts = self._load()
                before = json.dumps(hosts, sort_keys=True)
                yield hosts
                config = render_route_config(hosts)
                if json.dumps(hosts, sort_keys=True) != before or not self._file_has(config):
                    self.gateway.set_route_config(config)
                    atomic_write(self.state_path, json.dumps({"virtual_hosts": hosts}, sort_keys=True))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _file_has(self, config: dict) -> bool:
        try:
            current = dict(self.gateway.route_config_file())
        except (OSError, ValueError, KeyError, IndexError):
            return False
        current.pop("@type", None)
        current.pop("name", None)  # the gateway names the route configuration
        return current == config


def canary_virtual_host(canary: CanarySpec, primary_w: int, canary_w: int, mirrored: bool) -> dict:
    """Routes of one canary: A/B match routes first (if any), then the default route."""
    primary, canary_cluster = _clusters(canary)

    def split(p: int, c: int) -> dict:
        return {"weighted_clusters": {"clusters": [{"name": primary, "weight": p},
                                                   {"name": canary_cluster, "weight": c}]}}  # fmt: skip

    routes = [
        {
            "name": f"ab-{j}",
            "match": route_match(m),
            "route": {**ROUTE_DEFAULTS, **split(primary_w, canary_w)},
        }
        for j, m in enumerate(canary.analysis.match)
    ]
    default = {**ROUTE_DEFAULTS, **(split(100, 0) if routes else split(primary_w, canary_w))}
    if mirrored:
        default["request_mirror_policies"] = [
            mirror_policy(canary_cluster, float(canary.analysis.mirror_weight))
        ]
    routes.append({"name": DEFAULT_ROUTE, "match": {"prefix": "/"}, "route": default})
    return {
        "name": _key(canary),
        "domains": domains_for(canary.hosts, canary.name, canary.namespace),
        "routes": routes,
    }


def service_virtual_host(namespace: str, workload: str, cluster: str | None = None,
                         key: str | None = None) -> dict:
    """All requests for `WORKLOAD.NAMESPACE[.svc[.cluster.local]]` to that workload alone.

    This is the address a Kubernetes Service gives each side (Flagger's `NAME-canary` and
    `NAME-primary`): blue-green analysis and load-test hooks reach the canary through it, and
    the gateway's statistics (hence the Istio metrics) see those requests.
    """
    names = [f"{workload}.{namespace}", f"{workload}.{namespace}.svc",
             f"{workload}.{namespace}.svc.cluster.local"]
    return {
        "name": key or virtual_host_name(namespace, workload),
        "domains": domains_for(names[1:], names[0]),
        "routes": [{"name": DEFAULT_ROUTE, "match": {"prefix": "/"},
                    "route": {**ROUTE_DEFAULTS,
                              "cluster": cluster or cluster_name(namespace, workload)}}],
    }


def render_route_config(hosts: dict) -> dict:
    """Virtual hosts newest first; each domain (and `*`) goes to the newest that claims it."""
    claimed: set[str] = set()
    vhosts = []
    for i, key in enumerate(sorted(hosts, key=lambda k: hosts[k]["seq"], reverse=True)):
        vhost = hosts[key]["virtual_host"]
        wanted = (["*"] if i == 0 else []) + list(vhost["domains"])
        domains = [d for d in wanted if d not in claimed]
        if not domains:
            namespace, _, name = key.partition("/")
            domains = [f"{name}.{namespace}.progressive.invalid"]
        claimed.update(domains)
        vhosts.append({**vhost, "domains": domains})
    return {
        "virtual_hosts": vhosts,
        "response_headers_to_add": [{
            "header": {"key": CLUSTER_HEADER, "value": "%UPSTREAM_CLUSTER%"},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }],
    }  # fmt: skip


def route_weights(route: dict) -> dict[str, int]:
    """Cluster -> weight of one Envoy route (a single `cluster` is weight 100)."""
    action = route.get("route", {})
    if "cluster" in action:
        return {action["cluster"]: 100}
    clusters = action.get("weighted_clusters", {}).get("clusters", [])
    return {c["name"]: int(c.get("weight", 0)) for c in clusters}


def _key(canary: CanarySpec) -> str:
    return virtual_host_name(canary.namespace, canary.name)


def _workloads(canary: CanarySpec) -> tuple[str, str]:
    return canary.primary_name, canary.canary_name


def _service_key(canary: CanarySpec, workload: str) -> str:
    return virtual_host_name(canary.namespace, workload)


def _clusters(canary: CanarySpec) -> tuple[str, str]:
    return (cluster_name(canary.namespace, canary.primary_name),
            cluster_name(canary.namespace, canary.canary_name))  # fmt: skip


def _next_seq(hosts: dict) -> int:
    return max((e["seq"] for e in hosts.values()), default=0) + 1
