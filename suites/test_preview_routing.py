"""Preview routing: the seed's 1% VirtualService and a header route to a pull-request build.

SEMANTICS.md §11: the destination is picked independently per request, so 1 in 100 is a
probability. Each share is judged by an exact binomial acceptance region with false-alarm
probability 1e-4 over N requests, and reported with its Wilson interval.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from progressive.model import load_specs
from progressive.model.types import VirtualServiceSpec
from progressive.platforms.base import Platform
from progressive.preview import deploy_destinations, destination_versions, measure_split
from progressive.reports.plots import attach_split_plot
from progressive.routing.names import workload_for_host
from progressive.testing import FIXTURES, SuiteTimeouts, attach_json
from progressive.waiting import wait_until

CONFIDENCE = 1 - 1e-4
SPLIT_REQUESTS = 10_000  # 1% +/- 0.4 points at this confidence (acceptance 64..141 hits)
CONVERGED = 10  # requests in a row that show a route change is live (Gateway API's idea)
# The tests of this module deploy the seed's VirtualService in its own namespaces: one worker.
pytestmark = pytest.mark.xdist_group("preview")
PREVIEW = "croc-hunter-jenkinsx.jx-carlossg-croc-hunter-jenkinsx-serverless-pr-35.svc.cluster.local"


@pytest.fixture
def seed_vs(platform: Platform) -> Iterator[tuple[VirtualServiceSpec, dict[str, str]]]:
    (vs,) = load_specs(FIXTURES / "seed-virtualservice-fixed.yaml")
    assert isinstance(vs, VirtualServiceSpec)
    versions = destination_versions(vs, {})
    deploy_destinations(platform, vs, versions)
    yield vs, versions
    platform.router().remove(vs.namespace, vs.name)
    for host in versions:
        ns, _ = workload_for_host(host, vs.namespace)
        platform.workloads(ns).stop_all()


@pytest.mark.conformance(
    "preview-one-percent",
    "the seed's 99/1 VirtualService sends about 1% of requests to the pull-request preview",
    features=["fixed-split"],
    rules=["11.1"],
)
def test_one_percent_reaches_the_preview(platform, seed_vs):
    vs, versions = seed_vs
    platform.router().apply_virtual_service(vs)
    shares = measure_split(platform, vs, SPLIT_REQUESTS, CONFIDENCE, versions)
    attach_json("split", [{**s.__dict__, "share": s.share} for s in shares])
    attach_split_plot(shares)
    preview = next(s for s in shares if s.host == PREVIEW)
    assert preview.consistent, (
        f"preview got {preview.hits}/{preview.n} = {preview.share:.3%}, accepted "
        f"{preview.accept[0]}..{preview.accept[1]} (alpha 1e-4)")
    assert all(s.consistent for s in shares)


@pytest.mark.conformance(
    "preview-header-route",
    "requests carrying the preview header all reach the preview; the others never do",
    features=["header-routing"],
    rules=["11.2"],
)
def test_header_route_sends_matching_requests_to_preview(platform, seed_vs):
    vs, versions = seed_vs
    (header_vs,) = load_specs(FIXTURES / "virtualservice-header-route.yaml")
    platform.router().apply_virtual_service(header_vs)
    host = platform.gateway_host(header_vs)
    session = requests.Session()
    answer_s = SuiteTimeouts.machine_s  # one request on loopback; no spec paces it

    def converged() -> bool:
        """The header route is live: CONVERGED matching requests in a row reach the preview
        (a mesh applies a VirtualService some time after the API server holds it)."""
        return all(session.get(platform.gateway_url, headers={"Host": host, "x-preview": "pr-35"},
                               timeout=answer_s).headers.get("X-Version") == versions[PREVIEW]
                   for _ in range(CONVERGED))

    wait_until(converged, timeout=SuiteTimeouts.machine_s, what="the header route to be live")
    matching = [session.get(platform.gateway_url, headers={"Host": host, "x-preview": "pr-35"},
                            timeout=answer_s).headers.get("X-Version") for _ in range(200)]
    others = [session.get(platform.gateway_url, headers={"Host": host, "x-preview": "pr-36"},
                          timeout=answer_s).headers.get("X-Version") for _ in range(200)]
    assert set(matching) == {versions[PREVIEW]}, f"matching requests reached {set(matching)}"
    assert versions[PREVIEW] not in others, "a non-matching request reached the preview"


@pytest.mark.conformance(
    "preview-own-address",
    "the preview environment also answers on its own address, with its own version",
    features=["fixed-split", "workload-endpoints"],
    rules=["11.3"],
)
def test_preview_answers_on_its_own_address(platform: Platform, seed_vs) -> None:
    vs, versions = seed_vs
    ns, workload = workload_for_host(PREVIEW, vs.namespace)
    endpoints = platform.workloads(ns).endpoints(workload)
    assert endpoints, "the preview has no replica"
    host, port = endpoints[0]
    answer = requests.get(f"http://{host}:{port}/", timeout=SuiteTimeouts.machine_s)
    assert answer.status_code == 200
    assert answer.headers["X-Version"] == versions[PREVIEW]
