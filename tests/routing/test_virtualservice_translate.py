"""The VirtualService translator, field by field, and every refusal (no Envoy needed).

Envoy's acceptance of what the translator produces is checked in test_envoy_router.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from progressive.errors import InvalidSpec, UserError
from progressive.model.types import (
    Destination,
    HeaderMatch,
    HttpRoute,
    MatchKind,
    RequestMatch,
    VirtualServiceSpec,
)
from progressive.routing.envoy import render_route_config, service_virtual_host
from progressive.routing.virtualservice import (
    ROUTE_DEFAULTS,
    clusters_for,
    domains_for,
    own_host,
    translate,
    unsupported_fields,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "specs"
PRODUCTION_HOST = "croc-hunter-jenkinsx.jx-production.svc.cluster.local"
PREVIEW_HOST = (
    "croc-hunter-jenkinsx.jx-carlossg-croc-hunter-jenkinsx-serverless-pr-35.svc.cluster.local"
)
PRODUCTION = "jx-production_croc-hunter-jenkinsx"
PREVIEW = "jx-carlossg-croc-hunter-jenkinsx-serverless-pr-35_croc-hunter-jenkinsx"


def vs(*http: HttpRoute, hosts=("croc-hunter.istio.example.com",)) -> VirtualServiceSpec:
    return VirtualServiceSpec(name="croc-hunter-jenkinsx", namespace="jx-production",
                              hosts=tuple(hosts), http=tuple(http))  # fmt: skip


def dest(host: str, weight: int = 0, given: bool = True, **kw) -> Destination:
    return Destination(host=host, weight=weight, weight_given=given, **kw)


def seed(preview_weight: int | None) -> VirtualServiceSpec:
    """The seed's VirtualService: 99 to production; the preview's weight as given (or not)."""
    preview = dest(PREVIEW_HOST, preview_weight or 0, given=preview_weight is not None, port=80)
    return vs(HttpRoute(route=(dest(PRODUCTION_HOST, 99, port=80), preview)))


def refusals(spec: VirtualServiceSpec, document: dict | None = None) -> list[str]:
    with pytest.raises(InvalidSpec) as info:
        translate(spec, document)
    assert isinstance(info.value, UserError)  # exit code 2 in the CLI
    return info.value.problems


# -- weights ---------------------------------------------------------------------------------


def test_seed_fixed_99_1_becomes_one_weighted_route():
    vhost = translate(seed(1))
    assert vhost["name"] == "jx-production/croc-hunter-jenkinsx"
    [route] = vhost["routes"]
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["weighted_clusters"] == {
        "clusters": [{"name": PRODUCTION, "weight": 99}, {"name": PREVIEW, "weight": 1}]
    }
    assert clusters_for(seed(1)) == {PRODUCTION, PREVIEW}


def test_seed_as_written_sends_nothing_to_the_weightless_preview():
    """Current Istio: a missing weight among several destinations is 0, so it is left out."""
    [route] = translate(seed(None))["routes"]
    assert route["route"]["cluster"] == PRODUCTION
    assert "weighted_clusters" not in route["route"]
    assert clusters_for(seed(None)) == {PRODUCTION}


def test_lone_destination_without_weight_gets_all_traffic():
    [route] = translate(vs(HttpRoute(route=(dest(PREVIEW_HOST, given=False),))))["routes"]
    assert route["route"]["cluster"] == PREVIEW


def test_seed_fixture_read_by_the_model_reader_translates_to_99_1():
    from progressive.model.validate import load_spec

    spec = load_spec(FIXTURES / "seed-virtualservice-fixed.yaml", VirtualServiceSpec)
    [route] = translate(spec)["routes"]
    assert {c["name"]: c["weight"] for c in route["route"]["weighted_clusters"]["clusters"]} == {
        PRODUCTION: 99, PREVIEW: 1}  # fmt: skip


def test_zero_weight_destination_is_left_out_of_a_split():
    spec = vs(HttpRoute(route=(dest("a", 60), dest("b", 0), dest("c", 40))))
    [route] = translate(spec)["routes"]
    assert [c["name"] for c in route["route"]["weighted_clusters"]["clusters"]] == [
        "jx-production_a", "jx-production_c"]  # fmt: skip


def test_destinations_to_the_same_workload_are_merged():
    spec = vs(HttpRoute(route=(dest("a", 30), dest("a.jx-production", 20), dest("b", 50))))
    [route] = translate(spec)["routes"]
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "jx-production_a", "weight": 50}, {"name": "jx-production_b", "weight": 50}]  # fmt: skip


def test_weights_summing_to_zero_are_refused_with_the_field_path():
    spec = vs(HttpRoute(route=(dest("a", 0), dest("b", 0))))
    assert refusals(spec) == [
        "spec.http[0].route: weights sum to 0, no destination would get traffic"
    ]


def test_negative_weight_is_refused():
    problems = refusals(vs(HttpRoute(route=(dest("a", 100), dest("b", -1)))))
    assert problems == ["spec.http[0].route[1].weight: must be >= 0, got -1"]


def test_route_without_destinations_and_service_without_routes_are_refused():
    assert refusals(vs(HttpRoute(route=()))) == [
        "spec.http[0].route: needs at least one destination"
    ]
    assert refusals(vs()) == ["spec.http: needs at least one route"]


# -- hosts, names, matches -------------------------------------------------------------------


def test_destination_host_forms_map_to_namespace_and_workload():
    spec = vs(HttpRoute(route=(dest("short", 1), dest("svc.other", 1),
                               dest("svc.third.svc.cluster.local", 1))))  # fmt: skip
    assert clusters_for(spec) == {"jx-production_short", "other_svc", "third_svc"}


def test_domains_are_hosts_name_and_own_host_with_any_port():
    spec = seed(1)
    own = f"croc-hunter-jenkinsx.{spec.namespace}.progressive.test"
    assert translate(spec)["domains"] == [
        "croc-hunter.istio.example.com", "croc-hunter.istio.example.com:*",
        "croc-hunter-jenkinsx", "croc-hunter-jenkinsx:*", own, f"{own}:*"]  # fmt: skip
    # Envoy allows one wildcard per domain, so a wildcard host gets no port variant
    assert domains_for(["*.Example.com", "*", "a:8080"], "n") == [
        "*.example.com", "*", "a:8080", "n", "n:*"]  # fmt: skip


def test_header_and_uri_matches_in_order_each_match_one_route():
    preview = HttpRoute(
        name="preview",
        match=(
            RequestMatch(headers=(HeaderMatch("x-preview", MatchKind.EXACT, "pr-35"),
                                  HeaderMatch("x-user", MatchKind.PREFIX, "qa-"))),
            RequestMatch(headers=(HeaderMatch("cookie", MatchKind.REGEX, "^(.*?;)?(canary=always)(;.*)?$"),),
                         uri_prefix="/static/"),
        ),
        route=(dest(PREVIEW_HOST, given=False),),
    )  # fmt: skip
    production = HttpRoute(route=(dest(PRODUCTION_HOST, given=False),))
    routes = translate(vs(preview, production))["routes"]
    assert [r["name"] for r in routes] == ["http-0-0", "http-0-1", "http-1-0"]
    assert routes[0]["match"] == {"prefix": "/", "headers": [
        {"name": "x-preview", "string_match": {"exact": "pr-35"}},
        {"name": "x-user", "string_match": {"prefix": "qa-"}}]}  # fmt: skip
    assert routes[1]["match"] == {"prefix": "/static/", "headers": [
        {"name": "cookie", "string_match": {"safe_regex": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}]}  # fmt: skip
    assert routes[2]["match"] == {"prefix": "/"}
    assert [r["route"]["cluster"] for r in routes] == [PREVIEW, PREVIEW, PRODUCTION]


def test_every_route_carries_istio_defaults_no_timeout_and_connect_retries():
    [route] = translate(seed(1))["routes"]
    assert route["route"]["timeout"] == "0s"
    assert route["route"]["retry_policy"] == ROUTE_DEFAULTS["retry_policy"]
    assert "5xx" not in route["route"]["retry_policy"]["retry_on"]  # the app's answers stand


# -- mirroring -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "numerator"), [(100.0, 1_000_000), (50.0, 500_000), (0.5, 5_000)]
)
def test_mirror_and_percentage_become_a_mirror_policy(percent, numerator):
    spec = vs(HttpRoute(route=(dest(PRODUCTION_HOST, given=False),), mirror=dest(PREVIEW_HOST),
                        mirror_percent=percent))  # fmt: skip
    [route] = translate(spec)["routes"]
    assert route["route"]["request_mirror_policies"] == [{
        "cluster": PREVIEW,
        "runtime_fraction": {"default_value": {"numerator": numerator, "denominator": "MILLION"}},
    }]  # fmt: skip
    assert clusters_for(spec) == {PRODUCTION, PREVIEW}


def test_mirror_percentage_out_of_range_is_refused():
    spec = vs(HttpRoute(route=(dest("a", given=False),), mirror=dest("b"), mirror_percent=150.0))
    assert refusals(spec) == [
        "spec.http[0].mirrorPercentage.value: must be between 0 and 100, got 150.0"
    ]


# -- refusals of what the gateway cannot do --------------------------------------------------


def test_subsets_are_refused_and_all_problems_are_listed_together():
    spec = vs(
        HttpRoute(route=(dest("a", 50, subset="v1"), dest("b", 50))),
        HttpRoute(route=(dest("a", given=False),), mirror=dest("b", subset="v2")),
        HttpRoute(route=(dest("a", 0), dest("b", 0))),
    )
    problems = refusals(spec)
    assert problems[0].startswith(
        "spec.http[0].route[0].destination.subset: not supported by the local gateway"
    )
    assert problems[1:] == ["spec.http[1].mirror.subset: not supported by the local gateway",
                            "spec.http[2].route: weights sum to 0, no destination would get traffic"]  # fmt: skip


@pytest.mark.parametrize(
    "field",
    ["timeout", "retries", "fault", "rewrite", "redirect", "directResponse", "delegate",
     "corsPolicy", "headers", "mirrors"],
)  # fmt: skip
def test_raw_http_fields_the_gateway_cannot_honour_are_named(field):
    doc = _seed_document()
    doc["spec"]["http"][0][field] = {"anything": 1}
    assert unsupported_fields(doc) == [f"spec.http[0].{field}: not supported by the local gateway"]
    assert f"spec.http[0].{field}: not supported by the local gateway" in refusals(seed(1), doc)


def test_raw_route_headers_and_subsets_are_named_with_their_index():
    doc = _seed_document()
    doc["spec"]["http"].insert(0, "not a mapping")  # indices stay those of the document
    doc["spec"]["http"][1]["route"][1]["headers"] = {"request": {"set": {"a": "b"}}}
    doc["spec"]["http"][1]["route"][1]["destination"]["subset"] = "v2"
    doc["spec"]["http"][1]["mirror"] = {"host": PREVIEW_HOST, "subset": "v2"}
    assert unsupported_fields(doc) == [
        "spec.http[1].route[1].headers: not supported by the local gateway",
        "spec.http[1].route[1].destination.subset: not supported by the local gateway",
        "spec.http[1].mirror.subset: not supported by the local gateway",
    ]


def test_ignored_fields_are_not_refused():
    doc = _seed_document()
    doc["spec"]["tcp"] = [{"route": []}]  # the model reader warns: only HTTP is routed
    doc["spec"]["exportTo"] = ["."]
    doc["spec"]["http"][0]["name"] = "split"
    assert unsupported_fields(doc) == []
    assert unsupported_fields(doc["spec"]) == []
    assert unsupported_fields({"spec": "junk"}) == []


def _seed_document() -> dict:
    return yaml.safe_load((FIXTURES / "seed-virtualservice-fixed.yaml").read_text())


# -- virtual hosts sharing domains (the router's rendering, no Envoy) ------------------------


def _entry(seq: int, name: str, domains: list[str]) -> dict:
    return {"seq": seq, "kind": "virtual-service",
            "virtual_host": {"name": f"ns/{name}", "domains": domains, "routes": []}}  # fmt: skip


def test_own_hosts_never_meet_service_hosts():
    """A VirtualService named after the Service it routes (the seed's: croc-hunter-jenkinsx in
    jx-production) keeps its own host: the Service's virtual host does not claim it."""
    vs = seed(1)
    own = own_host(vs.name, vs.namespace)
    assert own in translate(vs)["domains"]
    service = service_virtual_host(vs.namespace, vs.name)
    assert own not in service["domains"] and f"{own}:*" not in service["domains"]


def test_newest_virtual_host_gets_contested_domains_and_the_catch_all():
    hosts = {"ns/old": _entry(1, "old", ["shared", "old"]),
             "ns/new": _entry(2, "new", ["shared", "new"]),
             "ns/gone": _entry(0, "gone", ["shared"])}  # fmt: skip
    vhosts = {v["name"]: v["domains"] for v in render_route_config(hosts)["virtual_hosts"]}
    assert vhosts == {"ns/new": ["*", "shared", "new"], "ns/old": ["old"],
                      "ns/gone": ["gone.ns.progressive.invalid"]}  # fmt: skip
    every = [d for ds in vhosts.values() for d in ds]
    assert len(every) == len(set(every))  # Envoy refuses a duplicate domain
