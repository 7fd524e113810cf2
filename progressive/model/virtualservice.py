"""Istio VirtualService documents -> VirtualServiceSpec (fixed splits, preview and header routes).

Called by validate.py. Follows current Istio: a destination without `weight` gets 100 when it
is the route's only destination and 0 otherwise, with a warning in plain words (the seed's
preview destination has no weight, SEMANTICS.md §11). Weights are integers 0..100 and must not
all be 0; a sum other than 100 is read as relative shares (Envoy does so) and draws a warning.
Only HTTP routes are read; `tcp` / `tls` sections are ignored with a warning.
"""

from __future__ import annotations

from progressive.model.fields import Fields, Problems, check_int, name_problem, num, show
from progressive.model.matches import parse_matches
from progressive.model.types import Destination, HttpRoute, VirtualServiceSpec

SPEC_KEYS = ("hosts", "gateways", "http", "tcp", "tls", "exportTo")
_UNSUPPORTED_HTTP = ("fault", "redirect", "delegate", "directResponse")
_HTTP_KEYS = ("name", "match", "route", "mirror", "mirrorPercentage", "mirrorPercent",
              "mirror_percent", "timeout", "retries", "headers", "corsPolicy", "rewrite",
              *_UNSUPPORTED_HTTP)
_ROUTE_KEYS = ("destination", "weight", "headers")
_DESTINATION_KEYS = ("host", "subset", "port")


def parse_virtual_service(spec: Fields, api_version: str, name: str | None,
                          namespace: str | None) -> VirtualServiceSpec | None:
    """The VirtualServiceSpec, or None when a problem was recorded in `spec.p`."""
    warnings_before = len(spec.p.warnings)
    hosts = spec.str_list("hosts")
    if not spec.has("hosts"):
        spec.p.error(spec.at("hosts"), "required (the host names this route serves)")
    elif hosts == ():
        spec.p.error(spec.at("hosts"), "must list at least one host")
    gateways = spec.str_list("gateways")
    for section in ("tcp", "tls"):
        if spec.has(section):
            spec.p.warn(spec.at(section), "ignored: only http routes are supported")
    routes = tuple(_http_route(h) for h in spec.mappings("http", _HTTP_KEYS, required=True))
    if spec.has("http") and isinstance(spec.raw("http"), list) and not spec.raw("http"):
        spec.p.error(spec.at("http"), "must list at least one route")
    if spec.p.errors:
        return None
    return VirtualServiceSpec(
        name=name, namespace=namespace, hosts=hosts, http=routes, gateways=gateways,
        api_version=api_version, warnings=tuple(spec.p.warnings[warnings_before:]),
    )


def _http_route(h: Fields) -> HttpRoute | None:
    for field in _UNSUPPORTED_HTTP:
        if h.has(field):
            h.p.warn(h.at(field), "not supported by the routers; ignored")
    name = h.str("name")
    match = parse_matches(h, "match")
    destinations = [_destination(r) for r in h.mappings("route", _ROUTE_KEYS, required=True)]
    if h.has("route") and isinstance(h.raw("route"), list) and not h.raw("route"):
        h.p.error(h.at("route"), "must list at least one destination")
    route = _weigh(h, destinations)
    mirror = None
    mirror_fields = h.fields("mirror", _DESTINATION_KEYS)
    if mirror_fields is not None:
        mirror = _destination_fields(mirror_fields, weight=0)
    percent = _mirror_percent(h)
    if h.p.errors or route is None:
        return None
    return HttpRoute(route=route, match=match, mirror=mirror, mirror_percent=percent, name=name)


def _destination(r: Fields) -> tuple[Destination | None, int | None, bool]:
    """(destination, weight as given, weight given?) for one `route[]` item."""
    weight = None
    given = r.has("weight")
    if given:
        weight = check_int(r.raw("weight"), r.at("weight"), r.p, 0, 100)
    d = r.fields("destination", _DESTINATION_KEYS, required=True)
    dest = _destination_fields(d, weight or 0) if d is not None else None
    return dest, weight, given


def _destination_fields(d: Fields, weight: int) -> Destination | None:
    host = d.str("host", required=True)
    if host is not None and any(name_problem(label) for label in host.split(".")):
        d.p.error(d.at("host"), "must be a service host name: DNS-1123 labels joined by '.' "
                  f"(e.g. croc-hunter.jx-production.svc.cluster.local), got {show(host)}")
        host = None
    subset = d.str("subset")
    port = None
    port_fields = d.fields("port", ("number", "name"))
    if port_fields is not None:
        port = port_fields.int("number", required=True, lo=1, hi=65535)
    if host is None or (d.has("port") and port is None) or (d.has("subset") and subset is None):
        return None
    return Destination(host=host, weight=weight, port=port, subset=subset)


def _weigh(h: Fields, items: list[tuple[Destination | None, int | None, bool]]
           ) -> tuple[Destination, ...] | None:
    """Apply Istio's missing-weight rule, warn about it, refuse a route that sends nothing."""
    if not items or any(d is None for d, _, _ in items) or \
            any(given and w is None for _, w, given in items):
        return None
    p: Problems = h.p
    path = h.at("route")
    if len(items) == 1:
        # Istio assumes 100 for a lone destination, whatever its weight: Flagger's A/B routes
        # rely on it (the default route is the primary alone, at the primary's weight, 0).
        dest, weight, given = items[0]
        if given and weight != 100:
            p.warn(f"{path}[0]", f"the only destination ({dest.host}) receives all traffic: its "
                   f"weight {weight} is taken as 100, as Istio does")
        return (Destination(dest.host, 100, dest.port, dest.subset, weight_given=given),)
    missing = [i for i, (_, _, given) in enumerate(items) if not given]
    given_sum = sum(w for _, w, given in items if given)
    for i in missing:
        host = items[i][0].host
        advice = "give every destination a weight (they should sum to 100)"
        if len(missing) == 1 and 0 < 100 - given_sum <= 100:
            advice = f"did you mean {100 - given_sum}?"
        p.warn(f"{path}[{i}]", f"destination {i + 1} ({host}) has no weight and will receive "
               f"no traffic; {advice}")
    out = tuple(Destination(d.host, w if given else 0, d.port, d.subset, weight_given=given)
                for d, w, given in items)
    total = sum(d.weight for d in out)
    if total == 0:
        p.error(path, "the weights sum to 0: no destination would receive traffic")
        return None
    if total != 100 and not missing:
        shares = ", ".join(f"{num(round(100 * d.weight / total, 1))}%" for d in out)
        p.warn(path, f"the weights sum to {total}, not 100; they are read as relative shares "
               f"({shares})")
    return out


def _mirror_percent(h: Fields) -> float:
    value = None
    pct = h.fields("mirrorPercentage", ("value",))
    if pct is not None:
        value = pct.number("value", required=True, lo=0, hi=100)
    for legacy in ("mirrorPercent", "mirror_percent"):
        if h.has(legacy) and pct is None:
            given = check_int(h.raw(legacy), h.at(legacy), h.p, 0, 100)
            value = None if given is None else float(given)
    if value is not None and not h.has("mirror"):
        h.p.warn(h.at("mirrorPercentage"), "ignored: no mirror destination")
    return 100.0 if value is None else value


def describe_weights(spec: VirtualServiceSpec) -> str:
    """`99/0` per HTTP route, for the validate summary."""
    return "; ".join("/".join(str(d.weight) for d in r.route) for r in spec.http)
