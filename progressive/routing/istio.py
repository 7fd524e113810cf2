"""The Router seam in a cluster: an Istio VirtualService and two DestinationRules per canary.

`IstioRouter` writes, through the official client (workloads/kubernetes.KubeObjects), the
route SEMANTICS.md §3 describes: a VirtualService named after the target, whose first HTTP route
sends integer weights summing to 100 to `<target>-primary` and `<target>-canary` (short hosts
in the canary's namespace); with an A/B `match`, the matching route comes first and everyone
else goes to the primary; when mirrored, the canary gets a copy of the traffic. Every update is
a create-or-merge-patch (custom resources refuse strategic merge). `get_routes` reads the live
VirtualService back. The render functions are pure; `progressive render` writes their output.

Hosts and gateways follow Flagger: the spec's hosts plus the target's own name; the spec's
gateways, or (when it names none) the platform's gateway and `mesh`, so that the route is
reachable both through the ingress gateway and inside the mesh.
"""

from __future__ import annotations

from collections.abc import Callable

from progressive.kube import MANAGED_BY, KubeObjects, create_or_merge_patch
from progressive.model.types import (
    CanarySpec,
    Destination,
    HttpRoute,
    RequestMatch,
    VirtualServiceSpec,
)
from progressive.routing.base import RouterError, Routes

ISTIO_API = "networking.istio.io/v1beta1"


# -- pure renders -------------------------------------------------------------------------------

def render_matches(matches: tuple[RequestMatch, ...]) -> list[dict]:
    out = []
    for m in matches:
        item: dict = {}
        if m.headers:
            item["headers"] = {h.name: {h.kind.value: h.value} for h in m.headers}
        if m.uri_prefix is not None:
            item["uri"] = {"prefix": m.uri_prefix}
        out.append(item)
    return out


def _destination(host: str, weight: int) -> dict:
    return {"destination": {"host": host}, "weight": weight}


def route_hosts(spec: CanarySpec) -> list[str]:
    hosts = list(spec.hosts)
    if spec.target not in hosts and "*" not in hosts:
        hosts.append(spec.target)
    return hosts


def route_gateways(spec: CanarySpec, platform_gateway: str | None) -> list[str]:
    if spec.gateways:
        return list(spec.gateways)
    return [platform_gateway, "mesh"] if platform_gateway else ["mesh"]


def gateway_host(spec: CanarySpec, namespace: str | None = None) -> str:
    """The Host header a client sends through the ingress gateway to reach this route."""
    return spec.hosts[0] if spec.hosts else f"{spec.target}.{namespace or spec.namespace}.svc.cluster.local"


def render_virtual_service(spec: CanarySpec, primary: int, canary: int, mirrored: bool = False,
                           *, namespace: str | None = None, gateway: str | None = None,
                           labels: dict[str, str] | None = None) -> dict:
    """The canary's VirtualService with `primary`/`canary` weights (integers summing to 100)."""
    if not all(isinstance(w, int) and 0 <= w <= 100 for w in (primary, canary)) or primary + canary != 100:
        raise RouterError(f"weights must be integers 0..100 summing to 100, got {primary}/{canary}")
    weighted: dict = {"route": [_destination(spec.primary_name, primary),
                                _destination(spec.canary_name, canary)]}
    if mirrored:
        weighted["mirror"] = {"host": spec.canary_name}
        weighted["mirrorPercentage"] = {"value": float(spec.analysis.mirror_weight)}
    if spec.analysis.match:
        http = [{"match": render_matches(spec.analysis.match), **weighted},
                {"route": [_destination(spec.primary_name, 100), _destination(spec.canary_name, 0)]}]
    else:
        http = [weighted]
    return {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": {"name": spec.target, "namespace": namespace or spec.namespace,
                     "labels": {**MANAGED_BY, **(labels or {})}},
        "spec": {"hosts": route_hosts(spec), "gateways": route_gateways(spec, gateway),
                 "http": http},
    }


def render_destination_rules(spec: CanarySpec, *, namespace: str | None = None,
                             labels: dict[str, str] | None = None) -> list[dict]:
    return [{"apiVersion": ISTIO_API, "kind": "DestinationRule",
             "metadata": {"name": host, "namespace": namespace or spec.namespace,
                          "labels": {**MANAGED_BY, **(labels or {})}},
             "spec": {"host": host}}
            for host in (spec.primary_name, spec.canary_name)]


def _vs_destination(d: Destination) -> dict:
    dest: dict = {"host": d.host}
    if d.port is not None:
        dest["port"] = {"number": d.port}
    if d.subset is not None:
        dest["subset"] = d.subset
    return dest


def _vs_route(r: HttpRoute) -> dict:
    out: dict = {}
    if r.name:
        out["name"] = r.name
    if r.match:
        out["match"] = render_matches(r.match)
    out["route"] = [{"destination": _vs_destination(d), "weight": d.weight} for d in r.route]
    if r.mirror is not None:
        out["mirror"] = _vs_destination(r.mirror)
        out["mirrorPercentage"] = {"value": float(r.mirror_percent)}
    return out


def render_virtual_service_spec(vs: VirtualServiceSpec, *, namespace: str | None = None,
                                labels: dict[str, str] | None = None) -> dict:
    """A VirtualService document from the model; a destination without weight gets 0 (the
    way current Istio reads it, SEMANTICS.md §11)."""
    spec: dict = {"hosts": list(vs.hosts)}
    if vs.gateways:
        spec["gateways"] = list(vs.gateways)
    spec["http"] = [_vs_route(r) for r in vs.http]
    return {"apiVersion": ISTIO_API, "kind": "VirtualService",
            "metadata": {"name": vs.name, "namespace": namespace or vs.namespace,
                         "labels": {**MANAGED_BY, **(labels or {})}},
            "spec": spec}


def _service(host: str) -> str:
    return host.split(".")[0]


def read_routes(vs: dict, spec: CanarySpec) -> Routes:
    """Weights of the first HTTP route that sends traffic to the canary (as Flagger reads it)."""
    for route in vs.get("spec", {}).get("http") or []:
        weights = {_service(d["destination"]["host"]): int(d.get("weight", 0))
                   for d in route.get("route") or []}
        if spec.canary_name in weights:
            mirror = route.get("mirror") or {}
            return Routes(primary_weight=weights.get(spec.primary_name, 0),
                          canary_weight=weights[spec.canary_name],
                          mirrored=bool(mirror.get("host")))
    name = vs.get("metadata", {}).get("name")
    raise RouterError(f"VirtualService {name} has no HTTP route to {spec.primary_name} and "
                      f"{spec.canary_name}")


# -- the Router seam ----------------------------------------------------------------------------

class IstioRouter:
    def __init__(self, api_client, namespace: str | None = None, *, objects=None,
                 gateway: str | None = None, labels: dict[str, str] | None = None,
                 wait_live: Callable[[CanarySpec, Routes], None] | None = None,
                 read_live: Callable[[CanarySpec], Routes] | None = None):
        """`namespace`: where every object goes (None: each spec's own namespace);
        `gateway`: the platform's ingress Gateway, attached when a spec names none;
        `wait_live`: where the platform can see its data plane, set_routes also waits until
        the gateway serves the new weights (the Router seam's "return once live"), and
        `read_live` reads them from the gateway (get_routes: the live state, not the intent)."""
        self.wait_live = wait_live
        self.read_live = read_live
        self.objects = objects if objects is not None else KubeObjects(api_client)
        self.namespace = namespace
        self.gateway = gateway
        self.labels = labels or {}

    def _ns(self, spec: CanarySpec) -> str:
        return self.namespace or spec.namespace

    def _vs(self, spec: CanarySpec, primary: int, canary: int, mirrored: bool) -> dict:
        return render_virtual_service(spec, primary, canary, mirrored, namespace=self._ns(spec),
                                      gateway=self.gateway, labels=self.labels)

    def reconcile(self, canary: CanarySpec) -> None:
        for rule in render_destination_rules(canary, namespace=self._ns(canary), labels=self.labels):
            create_or_merge_patch(self.objects, rule)
        live = self.objects.get(ISTIO_API, "VirtualService", canary.target, self._ns(canary))
        try:
            keep = read_routes(live, canary) if live is not None else Routes(100, 0)
        except RouterError:  # someone else's route under this name: take it over at 100/0
            keep = Routes(100, 0)
        create_or_merge_patch(self.objects, self._vs(canary, keep.primary_weight,
                                                     keep.canary_weight, keep.mirrored))

    def set_routes(self, canary: CanarySpec, primary_weight: int, canary_weight: int,
                   mirrored: bool = False) -> None:
        """Apply the weights; return once the API server holds them (read back), and the
        gateway serves them where the platform can tell (`wait_live`)."""
        create_or_merge_patch(self.objects, self._vs(canary, primary_weight, canary_weight, mirrored))
        live = self._read_back(canary)
        if (live.primary_weight, live.canary_weight, live.mirrored) != (
                primary_weight, canary_weight, mirrored):
            raise RouterError(f"VirtualService {canary.target} reads back {live}, expected "
                              f"{primary_weight}/{canary_weight} mirrored={mirrored}")
        if self.wait_live is not None:
            self.wait_live(canary, live)

    def get_routes(self, canary: CanarySpec) -> Routes:
        """The weights the data plane serves where the platform can read them, else the
        VirtualService's (what a mesh is told to serve)."""
        return self.read_live(canary) if self.read_live is not None else self._read_back(canary)

    def _read_back(self, canary: CanarySpec) -> Routes:
        live = self.objects.get(ISTIO_API, "VirtualService", canary.target, self._ns(canary))
        if live is None:
            raise RouterError(f"VirtualService {canary.target} does not exist in namespace "
                              f"{self._ns(canary)}")
        return read_routes(live, canary)

    def finalize(self, canary: CanarySpec) -> None:
        ns = self._ns(canary)
        self.objects.delete(ISTIO_API, "VirtualService", canary.target, ns)
        for host in (canary.primary_name, canary.canary_name):
            self.objects.delete(ISTIO_API, "DestinationRule", host, ns)

    def apply_virtual_service(self, vs: VirtualServiceSpec) -> None:
        create_or_merge_patch(self.objects, render_virtual_service_spec(
            vs, namespace=self.namespace, labels=self.labels))

    def remove(self, namespace: str, name: str) -> None:
        """Delete the VirtualService `name` (a canary's is named after its target)."""
        self.objects.delete(ISTIO_API, "VirtualService", name, self.namespace or namespace)
