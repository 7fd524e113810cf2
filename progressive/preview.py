"""Verify a fixed split (the seed's 1% preview route) on the wire.

Called by `progressive preview` and the preview-routing suite. One Croc Hunter runs per
destination of the VirtualService, answering with a version named after the destination (its
namespace, unless told otherwise), so the `X-Version` header of each response says which
destination answered. The split is judged per destination with an exact binomial acceptance
region at the stated confidence (progressive.stats), and reported with a Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from progressive.errors import UserError
from progressive.model.types import HttpRoute, VirtualServiceSpec
from progressive.routing.names import workload_for_host
from progressive.stats import acceptance_interval, wilson_interval
from progressive.workloads.base import AppVersion, Workloads

REQUEST_RATE_FLOOR = 300.0  # req/s the gateway sustains here even under load; bounds the wait


@dataclass(frozen=True)
class DestinationShare:
    host: str
    version: str
    weight: int  # as configured
    expected: float  # weight / sum of weights
    hits: int
    n: int
    accept: tuple[int, int]  # acceptance region for hits
    interval: tuple[float, float]  # Wilson interval of the true share

    @property
    def share(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def consistent(self) -> bool:
        return self.accept[0] <= self.hits <= self.accept[1]


def default_route(vs: VirtualServiceSpec) -> HttpRoute:
    """The route a request without special headers takes: the first route with no match."""
    for route in vs.http:
        if not route.match:
            return route
    raise UserError(f"VirtualService {vs.name}: every http route has a match; nothing to verify")


def destination_versions(vs: VirtualServiceSpec, overrides: dict[str, str]) -> dict[str, str]:
    """Version each destination host answers with: its namespace, or the override."""
    versions: dict[str, str] = {}
    for route in vs.http:
        for dest in route.route:
            ns, workload = workload_for_host(dest.host, vs.namespace)
            versions.setdefault(dest.host, overrides.get(dest.host, ns))
    if len(set(versions.values())) != len(versions):
        seen: dict[str, str] = {}
        for host, version in list(versions.items()):
            if version in seen.values() and host not in overrides:
                versions[host] = f"{version}-{workload_for_host(host, vs.namespace)[1]}"
            seen[host] = versions[host]
    unknown = set(overrides) - set(versions)
    if unknown:
        raise UserError(f"--version names hosts that are not destinations: {', '.join(sorted(unknown))}")
    return versions


def _is_ready(workloads: Workloads, name: str) -> bool:
    return workloads.is_ready(name).ready


def deploy_destinations(platform, vs: VirtualServiceSpec, versions: dict[str, str]) -> None:
    for host, version in versions.items():
        ns, workload = workload_for_host(host, vs.namespace)
        platform.workloads(ns).deploy(workload, AppVersion(version), replicas=1)
    for host in versions:
        ns, workload = workload_for_host(host, vs.namespace)
        from progressive.waiting import wait_until

        wait_until(partial(_is_ready, platform.workloads(ns), workload),
                   timeout=30, what=f"{workload} in {ns} to be ready")


def judge(route: HttpRoute, versions: dict[str, str], counts: dict[str, int], n: int,
          confidence: float) -> list[DestinationShare]:
    alpha = 1.0 - confidence
    total = sum(d.weight for d in route.route)
    out = []
    for dest in route.route:
        p = dest.weight / total
        version = versions[dest.host]
        hits = counts.get(version, 0)
        out.append(DestinationShare(
            host=dest.host, version=version, weight=dest.weight, expected=p, hits=hits, n=n,
            accept=acceptance_interval(n, p, alpha), interval=wilson_interval(hits, n, confidence),
        ))
    return out


def measure_split(platform, vs: VirtualServiceSpec, requests: int, confidence: float,
                  versions: dict[str, str]) -> list[DestinationShare]:
    """Send `requests` requests through the gateway (Locust, unpaced) and judge the split."""
    from progressive.load.recording import is_failure
    from progressive.load.traffic import traffic

    route = default_route(vs)
    host = platform.gateway_host(vs)  # the VirtualService's own: other specs share its hosts
    with traffic(platform.gateway_url, rps=0, users=20, host_header=host) as run:
        run.wait_for_requests(requests, timeout=30 + requests / REQUEST_RATE_FLOOR)
    records = sorted(run.records, key=lambda r: r.t)[:requests]
    failed = sum(1 for r in records if is_failure(r.status))
    if failed:
        raise UserError(f"{failed} of {len(records)} requests failed: the destinations are not serving")
    counts: dict[str, int] = {}
    for r in records:
        counts[r.version] = counts.get(r.version, 0) + 1
    return judge(route, versions, counts, len(records), confidence)
