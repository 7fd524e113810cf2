"""The Istio router: the VirtualService it renders at every step, and how it reads it back.

The router runs against an in-memory double of the API seam (KubeObjects), which applies JSON
merge patches as the API server does.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from kind_support import SPECS, spec

from progressive.commands.render import route_steps
from progressive.model.types import VirtualServiceSpec
from progressive.model.validate import load_spec
from progressive.routing.base import RouterError, Routes
from progressive.routing.istio import (
    ISTIO_API,
    IstioRouter,
    gateway_host,
    read_routes,
    render_destination_rules,
    render_virtual_service,
    render_virtual_service_spec,
)

GATEWAY = "istio-system/public-gateway"


def weighted_route(vs: dict) -> list[tuple[str, int]]:
    return [(d["destination"]["host"], d["weight"]) for d in vs["spec"]["http"][0]["route"]]


class TestRenderedSteps:
    def test_the_seed_walks_100_0_to_50_50_and_every_step_sums_to_100(self, seed):
        steps = []
        for primary, canary, mirrored in route_steps(seed):
            vs = render_virtual_service(seed, primary, canary, mirrored, gateway=GATEWAY)
            assert vs["metadata"]["name"] == seed.target  # named after the target (§3)
            (p_host, p_weight), (c_host, c_weight) = weighted_route(vs)
            assert (p_host, c_host) == (seed.primary_name, seed.canary_name)  # short hosts
            assert isinstance(p_weight, int) and p_weight + c_weight == 100
            steps.append((p_weight, c_weight))
        assert steps == [(100, 0), (90, 10), (80, 20), (70, 30), (60, 40), (50, 50)]

    def test_hosts_and_gateways_come_from_the_spec(self, seed):
        vs = render_virtual_service(seed, 100, 0, gateway=GATEWAY)
        assert vs["spec"]["hosts"] == ["croc-hunter.istio.example.com", seed.target]
        assert vs["spec"]["gateways"] == ["public-gateway.istio-system.svc.cluster.local"]
        assert vs["metadata"]["namespace"] == "jx-production"
        assert gateway_host(seed) == "croc-hunter.istio.example.com"

    def test_a_spec_without_gateways_is_reachable_through_the_platform_gateway(self, seed):
        bare = replace(seed, hosts=(), gateways=())
        vs = render_virtual_service(bare, 100, 0, gateway=GATEWAY)
        assert vs["spec"]["gateways"] == [GATEWAY, "mesh"]
        assert vs["spec"]["hosts"] == [seed.target]
        assert render_virtual_service(bare, 100, 0)["spec"]["gateways"] == ["mesh"]
        assert gateway_host(bare) == f"{seed.target}.jx-production.svc.cluster.local"

    @pytest.mark.parametrize("weights", [(90, 20), (101, -1), (50.5, 49.5), (0, 0)])
    def test_weights_that_are_not_integers_summing_to_100_are_refused(self, seed, weights):
        with pytest.raises(RouterError, match="summing to 100"):
            render_virtual_service(seed, *weights)

    def test_ab_testing_puts_the_matching_route_first(self):
        ab = spec("canary-ab.yaml")
        assert route_steps(ab) == [(100, 0, False), (0, 100, False)]
        vs = render_virtual_service(ab, 0, 100, gateway=GATEWAY)
        first, rest = vs["spec"]["http"]
        assert first["match"] == [{"headers": {"x-canary": {"exact": "insider"}}},
                                  {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}]
        assert [d["weight"] for d in first["route"]] == [0, 100]
        assert "match" not in rest and [d["weight"] for d in rest["route"]] == [100, 0]
        assert read_routes(vs, ab) == Routes(0, 100)

    def test_mirroring_copies_traffic_to_the_canary_at_weight_0(self):
        mirror = spec("canary-mirror.yaml")
        assert route_steps(mirror)[:2] == [(100, 0, False), (100, 0, True)]
        vs = render_virtual_service(mirror, 100, 0, mirrored=True)
        route = vs["spec"]["http"][0]
        assert route["mirror"] == {"host": mirror.canary_name}
        assert route["mirrorPercentage"] == {"value": float(mirror.analysis.mirror_weight)}
        assert read_routes(vs, mirror) == Routes(100, 0, mirrored=True)

    def test_destination_rules_for_primary_and_canary(self, seed):
        rules = render_destination_rules(seed)
        assert [(r["kind"], r["metadata"]["name"], r["spec"]["host"]) for r in rules] == [
            ("DestinationRule", seed.primary_name, seed.primary_name),
            ("DestinationRule", seed.canary_name, seed.canary_name)]


class TestFixedSplitDocuments:
    def test_the_seed_preview_route_renders_99_1(self):
        vs = load_spec(SPECS / "seed-virtualservice-fixed.yaml", VirtualServiceSpec)
        doc = render_virtual_service_spec(vs)
        assert doc["apiVersion"] == ISTIO_API and doc["metadata"]["name"] == vs.name
        assert doc["spec"]["gateways"] == ["public-gateway.istio-system.svc.cluster.local", "mesh"]
        route = doc["spec"]["http"][0]["route"]
        assert [d["weight"] for d in route] == [99, 1]
        assert route[0]["destination"] == {
            "host": "croc-hunter-jenkinsx.jx-production.svc.cluster.local", "port": {"number": 80}}

    def test_a_missing_weight_is_written_as_0_as_current_istio_reads_it(self):
        vs = load_spec(SPECS / "seed-virtualservice.yaml", VirtualServiceSpec)
        route = render_virtual_service_spec(vs)["spec"]["http"][0]["route"]
        assert [d["weight"] for d in route] == [99, 0]


class TestRouterAgainstTheApi:
    @pytest.fixture
    def router(self, objects) -> IstioRouter:
        return IstioRouter(None, objects=objects, gateway=GATEWAY, labels={"progressive.dev/run": "t"})

    def test_reconcile_creates_rules_and_a_100_0_route(self, router, objects, seed):
        router.reconcile(seed)
        assert router.get_routes(seed) == Routes(100, 0)
        vs = objects.get(ISTIO_API, "VirtualService", seed.target, seed.namespace)
        assert vs["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "progressive",
                                            "progressive.dev/run": "t"}
        for host in (seed.primary_name, seed.canary_name):
            assert objects.get(ISTIO_API, "DestinationRule", host, seed.namespace) is not None

    def test_set_routes_merge_patches_and_reads_the_weights_back(self, router, objects, seed):
        router.reconcile(seed)
        for p, c, _ in route_steps(seed)[1:]:
            router.set_routes(seed, p, c)
            assert router.get_routes(seed) == Routes(p, c)
        verbs = [v for v, kind, _ in objects.requests if kind == "VirtualService"]
        assert verbs.count("create") == 1 and "patch" in verbs

    def test_reconcile_keeps_the_live_weights(self, router, seed):
        router.reconcile(seed)
        router.set_routes(seed, 70, 30)
        router.reconcile(seed)
        assert router.get_routes(seed) == Routes(70, 30)

    def test_mirror_is_removed_when_the_next_step_is_not_mirrored(self, router):
        mirror = spec("canary-mirror.yaml")
        router.reconcile(mirror)
        router.set_routes(mirror, 100, 0, mirrored=True)
        assert router.get_routes(mirror).mirrored
        router.set_routes(mirror, 90, 10)
        assert router.get_routes(mirror) == Routes(90, 10, mirrored=False)

    def test_a_route_of_someone_else_is_taken_over_at_100_0(self, router, objects, seed):
        objects.create({"apiVersion": ISTIO_API, "kind": "VirtualService",
                        "metadata": {"name": seed.target, "namespace": seed.namespace},
                        "spec": {"hosts": ["x"], "http": [{"route": [
                            {"destination": {"host": "elsewhere"}, "weight": 100}]}]}})
        with pytest.raises(RouterError, match="no HTTP route"):
            router.get_routes(seed)
        router.reconcile(seed)
        assert router.get_routes(seed) == Routes(100, 0)

    def test_finalize_removes_what_reconcile_created(self, router, objects, seed):
        router.reconcile(seed)
        router.finalize(seed)
        assert objects.store == {}
        with pytest.raises(RouterError, match="does not exist"):
            router.get_routes(seed)

    def test_a_fixed_split_document_is_applied_as_given(self, router, objects):
        vs = load_spec(SPECS / "seed-virtualservice-fixed.yaml", VirtualServiceSpec)
        router.apply_virtual_service(vs)
        live = objects.get(ISTIO_API, "VirtualService", vs.name, vs.namespace)
        assert [d["weight"] for d in live["spec"]["http"][0]["route"]] == [99, 1]
