"""Translate an Istio VirtualService (the internal model) into an Envoy virtual host.

Used by the Envoy router (`routing/envoy.py`) so that a VirtualService document such as the
seed's 99/1 preview split runs unchanged on the local gateway, and by the router's canary
routes for the header matches they share.

What the local gateway does with each VirtualService field:
- translated: `hosts` (domains, plus `host:*` for any port), `http[].match[].headers`
  (exact / prefix / regex, all must match), `http[].match[].uri.prefix`, `http[].route[]`
  (`destination.host` -> the workload's cluster, `weight`), `http[].mirror`,
  `http[].mirrorPercentage`. Several `match` entries are OR-ed: one Envoy route each.
- ignored, because they change nothing on one local gateway: `gateways`, `exportTo`,
  `http[].name`, `match[].name`, `destination.port` (a local workload has one port), and
  `tcp` / `tls` (the model reader warns: only HTTP is routed).
- refused with the field path (`spec.http[0].fault: not supported by the local gateway`):
  `destination.subset` and `mirror.subset` by `translate`; `retries`, `timeout`, `fault`,
  `rewrite`, `redirect`, `directResponse`, `delegate`, `corsPolicy`, `headers`, `mirrors` by
  `unsupported_fields` on the raw document (the model does not carry them). Other `match`
  conditions are refused by the model reader. A route that silently behaves differently
  from Istio would make a conformance verdict meaningless.

Weights follow current Istio: a missing weight is 0 when a route has several destinations,
100 for a lone destination; destinations with weight 0 are left out and a route whose weights
sum to 0 is refused. Every route gets Istio's defaults: no timeout, and retries (2) of
connection failures and refused streams only, never of an answer the app gave.
"""

from __future__ import annotations

from collections.abc import Callable

from progressive.errors import InvalidSpec
from progressive.model.types import (
    HeaderMatch,
    HttpRoute,
    MatchKind,
    RequestMatch,
    VirtualServiceSpec,
)
from progressive.routing.names import cluster_name, workload_for_host

UNSUPPORTED = "not supported by the local gateway"
ROUTE_DEFAULTS = {
    "timeout": "0s",
    "retry_policy": {
        "retry_on": "connect-failure,refused-stream,unavailable,cancelled",
        "num_retries": 2,
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host."
                                      "previous_hosts.v3.PreviousHostsPredicate"},
        }],
        "host_selection_retry_max_attempts": 5,
    },
}  # fmt: skip

# Raw document fields the model reader accepts (or only warns about) that the gateway cannot
# honour: `unsupported_fields` names them so a caller can refuse the document.
_REFUSED_HTTP = (
    "timeout",
    "retries",
    "fault",
    "rewrite",
    "redirect",
    "directResponse",
    "delegate",
    "corsPolicy",
    "headers",
    "mirrors",
)
_REFUSED_ROUTE = ("headers",)
_REFUSED_DESTINATION = ("subset",)


def virtual_host_name(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


OWN_HOST_DOMAIN = "progressive.test"  # RFC 6761: never a real name, never a Service's


def own_host(name: str, namespace: str) -> str:
    """The host only this object answers on the local gateway: `name.namespace.progressive.test`.
    Tests running at once address their own objects by it, since specs share hosts (the seed's
    Canary and VirtualServices all claim one); outside the cluster suffixes, so that it never
    meets a Service's host (`name.namespace[.svc.cluster.local]`), which a VirtualService may
    be named after."""
    return f"{name}.{namespace}.{OWN_HOST_DOMAIN}".lower()


def domains_for(hosts: tuple[str, ...] | list[str], name: str,
                namespace: str | None = None) -> list[str]:
    """Envoy domains for Istio hosts plus the object's name (and its own host `name.namespace`
    when given), each also with any port."""
    out: list[str] = []
    for host in [*hosts, name, *([own_host(name, namespace)] if namespace else [])]:
        host = host.lower()
        variants = [host]
        if host != "*" and ":" not in host and not host.startswith("*"):
            variants.append(f"{host}:*")  # Envoy allows one wildcard: none for `*.example.com`
        out += [v for v in variants if v not in out]
    return out


def header_matcher(h: HeaderMatch) -> dict:
    if h.kind is MatchKind.REGEX:
        return {"name": h.name, "string_match": {"safe_regex": {"regex": h.value}}}
    return {"name": h.name, "string_match": {h.kind.value: h.value}}


def route_match(m: RequestMatch) -> dict:
    match: dict = {"prefix": m.uri_prefix or "/"}
    if m.headers:
        match["headers"] = [header_matcher(h) for h in m.headers]
    return match


def mirror_policy(cluster: str, percent: float) -> dict:
    """Copy `percent` % of requests to `cluster` (answers discarded)."""
    return {
        "cluster": cluster,
        "runtime_fraction": {
            "default_value": {"numerator": round(percent * 10_000), "denominator": "MILLION"}
        },
    }


ClusterOf = Callable[[str, str], str]  # (destination host, VirtualService namespace) -> cluster


def destination_cluster(host: str, default_namespace: str) -> str:
    """The cluster of a destination host where a host's workload is named after it (local)."""
    return cluster_name(*workload_for_host(host, default_namespace))


def translate(vs: VirtualServiceSpec, document: dict | None = None,
              cluster_of: ClusterOf = destination_cluster) -> dict:
    """The Envoy virtual host for `vs`; InvalidSpec lists every field the gateway refuses.

    Pass the raw `document` `vs` was read from to refuse its `unsupported_fields` as well, and
    `cluster_of` where a destination host's cluster is not named after the host (a cluster's
    mesh agent resolves a Service to the Deployment behind it).
    """
    problems: list[str] = unsupported_fields(document) if document is not None else []
    routes: list[dict] = []
    for i, http in enumerate(vs.http):
        action = _action(http, f"spec.http[{i}]", vs.namespace, problems, cluster_of)
        for j, m in enumerate(http.match or (RequestMatch(),)):
            routes.append({"name": f"http-{i}-{j}", "match": route_match(m), **action})
    if not vs.http:
        problems.append("spec.http: needs at least one route")
    if problems:
        raise InvalidSpec(f"VirtualService {vs.namespace}/{vs.name}", problems)
    return {
        "name": virtual_host_name(vs.namespace, vs.name),
        "domains": domains_for(vs.hosts, vs.name, vs.namespace),
        "routes": routes,
    }


def clusters_for(vs: VirtualServiceSpec) -> set[str]:
    """The clusters the translated routes send to or mirror to."""
    out: set[str] = set()
    for route in translate(vs)["routes"]:
        action = route["route"]
        if "cluster" in action:
            out.add(action["cluster"])
        out |= {c["name"] for c in action.get("weighted_clusters", {}).get("clusters", [])}
        out |= {p["cluster"] for p in action.get("request_mirror_policies", [])}
    return out


def _action(http: HttpRoute, path: str, namespace: str, problems: list[str],
            cluster_of: ClusterOf) -> dict:
    weights: dict[str, int] = {}
    if not http.route:
        problems.append(f"{path}.route: needs at least one destination")
    for k, d in enumerate(http.route):
        where = f"{path}.route[{k}]"
        if d.subset:
            problems.append(
                f"{where}.destination.subset: {UNSUPPORTED} (no DestinationRule "
                "subsets; route to each workload's own host)"
            )
        weight = 100 if len(http.route) == 1 and not d.weight_given else d.weight
        if weight < 0:
            problems.append(f"{where}.weight: must be >= 0, got {weight}")
        elif weight > 0:
            cluster = cluster_of(d.host, namespace)
            weights[cluster] = weights.get(cluster, 0) + weight
    if http.route and not weights:
        problems.append(f"{path}.route: weights sum to 0, no destination would get traffic")
    action: dict = {**ROUTE_DEFAULTS}
    if len(weights) == 1:
        action["cluster"] = next(iter(weights))
    elif weights:
        action["weighted_clusters"] = {
            "clusters": [{"name": c, "weight": w} for c, w in weights.items()]
        }
    if http.mirror is not None:
        if http.mirror.subset:
            problems.append(f"{path}.mirror.subset: {UNSUPPORTED}")
        if not 0.0 <= http.mirror_percent <= 100.0:  # NaN included
            problems.append(
                f"{path}.mirrorPercentage.value: must be between 0 and 100, "
                f"got {http.mirror_percent}"
            )
        else:
            action["request_mirror_policies"] = [
                mirror_policy(cluster_of(http.mirror.host, namespace), http.mirror_percent)
            ]
    return {"route": action}


def unsupported_fields(doc: dict) -> list[str]:
    """Field paths in a raw VirtualService document (or its `spec`) the gateway would not honour.

    The internal model carries only what a router can do, so fields the reader drops (see
    model/virtualservice.py) are invisible to `translate`; a caller that wants them refused,
    not silently ignored, checks the document with this (SEMANTICS.md §1: problems by path).
    """
    spec = doc.get("spec", doc) if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        return []
    problems = []
    for i, http in _items(spec.get("http")):
        path = f"spec.http[{i}]"
        problems += [f"{path}.{k}: {UNSUPPORTED}" for k in _REFUSED_HTTP if k in http]
        for k, r in _items(http.get("route")):
            rp = f"{path}.route[{k}]"
            problems += [f"{rp}.{f}: {UNSUPPORTED}" for f in _REFUSED_ROUTE if f in r]
            problems += _destination_fields(r.get("destination"), f"{rp}.destination")
        problems += _destination_fields(http.get("mirror"), f"{path}.mirror")
    return problems


def _destination_fields(dest: object, path: str) -> list[str]:
    if not isinstance(dest, dict):
        return []
    return [f"{path}.{k}: {UNSUPPORTED}" for k in _REFUSED_DESTINATION if k in dest]


def _items(value: object) -> list[tuple[int, dict]]:
    """(index, entry) of the mapping entries of a list; indices as in the document."""
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
