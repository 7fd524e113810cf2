"""Local workloads on the session's platform: what the gateway and Prometheus see of them."""

from __future__ import annotations

import json

import pytest

from progressive.routing.names import cluster_name
from progressive.workloads.base import AppVersion

pytestmark = pytest.mark.integration


def scrape_targets(platform, namespace: str, name: str) -> list[str]:
    path = platform.prometheus.targets_dir / f"apps_{namespace}_{name}.json"
    return [t for group in json.loads(path.read_text()) for t in group["targets"]]


def test_stop_all_withdraws_the_clusters_and_scrape_targets(platform, namespace):
    if platform.name != "local":
        pytest.skip("the local platform's gateway and Prometheus")
    workloads = platform.workloads(namespace)
    other = platform.workloads(namespace + "-other")
    try:
        workloads.deploy("croc-hunter", AppVersion("v1"), replicas=2)
        other.deploy("croc-hunter", AppVersion("v1"), replicas=1)
        mine, theirs = cluster_name(namespace, "croc-hunter"), cluster_name(
            namespace + "-other", "croc-hunter")
        clusters = platform.gateway.cluster_endpoints()
        assert len(clusters[mine]) == 2 and len(clusters[theirs]) == 1
        assert len(scrape_targets(platform, namespace, "croc-hunter")) == 2

        workloads.stop_all()

        clusters = platform.gateway.cluster_endpoints()
        assert mine not in clusters, "a stopped namespace keeps its cluster in the gateway"
        assert len(clusters[theirs]) == 1, "another namespace lost its cluster"
        assert scrape_targets(platform, namespace, "croc-hunter") == []
        assert workloads.describe() == {}
    finally:
        workloads.stop_all()
        other.stop_all()
