"""Istio VirtualService documents read into VirtualServiceSpec: weights, matches, mirrors."""

from __future__ import annotations

import pytest
from spec_docs import DELETE, SPECS, VIRTUAL_SERVICE, changed, check

from progressive.model.types import MatchKind
from progressive.model.validate import load_spec, validate_file

PREVIEW = "croc-hunter-jenkinsx.jx-carlossg-croc-hunter-jenkinsx-serverless-pr-35.svc.cluster.local"


def parsed(doc):
    spec, problems, warnings = check(doc)
    assert problems == [], problems
    return spec, warnings


class TestSeed:
    def test_seed_missing_weight_is_0_with_a_warning_a_user_understands(self):
        report = validate_file(SPECS / "seed-virtualservice.yaml")
        assert report.ok
        [spec] = report.specs
        production, preview = spec.http[0].route
        assert (production.weight, production.weight_given) == (99, True)
        assert (preview.weight, preview.weight_given, preview.host) == (0, False, PREVIEW)
        expected = (f"spec.http[0].route[1]: destination 2 ({PREVIEW}) has no weight and will "
                    "receive no traffic; did you mean 1?")
        assert spec.warnings == (expected,)
        assert report.documents[0].warnings == [expected]

    def test_fixed_seed_is_99_1_without_warnings(self):
        report = validate_file(SPECS / "seed-virtualservice-fixed.yaml")
        assert report.warning_lines() == []
        [spec] = report.specs
        assert [d.weight for d in spec.http[0].route] == [99, 1]
        assert [d.port for d in spec.http[0].route] == [80, 80]
        assert spec.gateways == ("public-gateway.istio-system.svc.cluster.local", "mesh")
        assert spec.hosts == ("croc-hunter.istio.example.com",)
        assert (spec.name, spec.namespace, spec.api_version) == (
            "croc-hunter-jenkinsx", "jx-production", "networking.istio.io/v1alpha3")


class TestWeights:
    def test_single_destination_without_weight_gets_100(self):
        doc = changed(VIRTUAL_SERVICE, spec__http__0__route=[
            {"destination": {"host": "croc-hunter"}}])
        spec, warnings = parsed(doc)
        [only] = spec.http[0].route
        assert (only.weight, only.weight_given, only.port) == (100, False, None)
        assert warnings == []

    def test_single_destination_takes_all_traffic_whatever_its_weight(self):
        # Istio assumes 100 for a lone destination; Flagger's A/B default route is the primary
        # alone at weight 0 while matching requests go to the canary.
        doc = changed(VIRTUAL_SERVICE, spec__http__0__route=[
            {"destination": {"host": "croc-hunter-primary"}, "weight": 0}])
        spec, warnings = parsed(doc)
        [only] = spec.http[0].route
        assert (only.weight, only.weight_given) == (100, True)
        assert len(warnings) == 1 and "taken as 100" in warnings[0]

    def test_suggestion_is_100_minus_the_others(self):
        route = [{"destination": {"host": "a"}, "weight": 70},
                 {"destination": {"host": "b"}, "weight": 20},
                 {"destination": {"host": "c"}}]
        _, warnings = parsed(changed(VIRTUAL_SERVICE, spec__http__0__route=route))
        assert warnings == ["spec.http[0].route[2]: destination 3 (c) has no weight and will "
                            "receive no traffic; did you mean 10?"]

    def test_no_suggestion_when_the_others_already_make_100(self):
        route = [{"destination": {"host": "a"}, "weight": 100}, {"destination": {"host": "b"}}]
        _, warnings = parsed(changed(VIRTUAL_SERVICE, spec__http__0__route=route))
        assert warnings == ["spec.http[0].route[1]: destination 2 (b) has no weight and will "
                            "receive no traffic; give every destination a weight (they should "
                            "sum to 100)"]

    def test_a_sum_other_than_100_is_read_as_shares(self):
        doc = changed(VIRTUAL_SERVICE, spec__http__0__route__0__weight=90,
                      spec__http__0__route__1__weight=10)
        assert parsed(doc)[1] == []
        doc = changed(VIRTUAL_SERVICE, spec__http__0__route__0__weight=30,
                      spec__http__0__route__1__weight=10)
        assert parsed(doc)[1] == ["spec.http[0].route: the weights sum to 40, not 100; they are "
                                  "read as relative shares (75%, 25%)"]

    @pytest.mark.parametrize(
        ("changes", "problem"),
        [
            ({"spec__http__0__route__0__weight": 0, "spec__http__0__route__1__weight": 0},
             "spec.http[0].route: the weights sum to 0: no destination would receive traffic"),
            ({"spec__http__0__route__1__weight": -1},
             "spec.http[0].route[1].weight: must be between 0 and 100, got -1"),
            ({"spec__http__0__route__0__weight": 101},
             "spec.http[0].route[0].weight: must be between 0 and 100, got 101"),
            ({"spec__http__0__route__0__weight": 99.5},
             "spec.http[0].route[0].weight: must be an integer, got the number 99.5"),
            ({"spec__http__0__route__1__destination__host": DELETE},
             "spec.http[0].route[1].destination.host: required"),
            ({"spec__http__0__route__1__destination__host": ""},
             "spec.http[0].route[1].destination.host: must not be empty"),
        ],
    )
    def test_refusals(self, changes, problem):
        assert check(changed(VIRTUAL_SERVICE, **changes))[1] == [problem]


class TestRoutes:
    def test_header_route_fixture(self):
        spec = load_spec(SPECS / "virtualservice-header-route.yaml")
        preview, production = spec.http
        [[header]] = [m.headers for m in preview.match]
        assert (header.name, header.kind, header.value) == ("x-preview", MatchKind.EXACT, "pr-35")
        assert preview.name == "preview" and preview.route[0].host == PREVIEW
        assert production.match == () and production.route[0].weight == 100

    def test_uri_prefix_subset_and_mirror(self):
        doc = changed(VIRTUAL_SERVICE, spec__http__0__match=[{"uri": {"prefix": "/api"}}],
                      spec__http__0__route__0__destination__subset="v1",
                      spec__http__0__mirror={"host": "shadow", "port": {"number": 8080}},
                      spec__http__0__mirrorPercentage={"value": 12.5})
        spec, warnings = parsed(doc)
        route = spec.http[0]
        assert route.match[0].uri_prefix == "/api"
        assert route.route[0].subset == "v1"
        assert (route.mirror.host, route.mirror.port, route.mirror_percent) == ("shadow", 8080,
                                                                                12.5)
        assert warnings == []

    def test_legacy_mirror_percent(self):
        doc = changed(VIRTUAL_SERVICE, spec__http__0__mirror={"host": "shadow"},
                      spec__http__0__mirror_percent=30)
        assert parsed(doc)[0].http[0].mirror_percent == 30

    def test_tcp_and_unsupported_http_features_warn(self):
        doc = changed(VIRTUAL_SERVICE, spec__tcp=[{"route": []}],
                      spec__http__0__fault={"abort": {"httpStatus": 500}})
        _, warnings = parsed(doc)
        assert "spec.tcp: ignored: only http routes are supported" in warnings
        assert "spec.http[0].fault: not supported by the routers; ignored" in warnings

    @pytest.mark.parametrize("version", ["networking.istio.io/v1alpha3",
                                         "networking.istio.io/v1beta1", "networking.istio.io/v1"])
    def test_every_supported_version(self, version):
        assert parsed(changed(VIRTUAL_SERVICE, apiVersion=version))[0].api_version == version
