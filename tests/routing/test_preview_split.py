"""The seed's VirtualService (99 to production, 1 to the PR-35 preview) on the local gateway.

The seed omits the preview's weight; the fixture `seed-virtualservice-fixed.yaml` states the
intended 99/1 (SEMANTICS.md §11). n = 10,000 requests: the exact binomial acceptance region
at false-alarm probability 1e-4 is about 0.6%..1.4% of the requests for p = 1%.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from routing_support import assert_share, blast

from progressive.model.types import VirtualServiceSpec
from progressive.model.validate import load_spec
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.routing.envoy import EnvoyRouter
from progressive.routing.names import cluster_name

pytestmark = pytest.mark.integration

FIXED_SEED = (
    Path(__file__).resolve().parents[2] / "fixtures" / "specs" / "seed-virtualservice-fixed.yaml"
)
N = 10_000


def test_seed_virtual_service_routes_one_percent_to_the_preview(
    gateway: EnvoyGateway, state_dir: Path, backends, record_property
):
    vs = load_spec(FIXED_SEED, VirtualServiceSpec)
    production = cluster_name("jx-production", "croc-hunter-jenkinsx")
    preview = cluster_name(
        "jx-carlossg-croc-hunter-jenkinsx-serverless-pr-35", "croc-hunter-jenkinsx"
    )
    gateway.set_clusters(
        {production: [backends["v1"].endpoint], preview: [backends["v2"].endpoint]}
    )
    EnvoyRouter(gateway, state_dir).apply_virtual_service(vs)

    tally = blast(gateway.listener_url + "/healthz", N, concurrency=16,
                  headers={"Host": "croc-hunter.istio.example.com"})  # fmt: skip
    line = assert_share(tally, "v2", 1)
    record_property("preview share", line)
    print(line)
