"""Property tests of the VirtualService translator (routing/virtualservice.py `translate`),
the other half of untrusted input next to the spec parser (tests/model/test_spec_properties.py).

Two ways in: raw documents (the fixtures' VirtualServices, mutated) through the model reader
and then `translate(vs, document)`, as `progressive rollout VS.yaml` does; and models built
directly, in and out of the reader's invariants, since `translate` checks weights and the
mirror percentage itself (models within -1..101 %: a non-finite one is a known bug, pinned
by its own test). Either way the only exception allowed is InvalidSpec (exit 2), with
every problem a field path; whatever is translated is a virtual host Envoy can load: positive
integer weights, a route per match, a mirror fraction within a million.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progressive.errors import InvalidSpec
from progressive.model.types import (
    Destination,
    HeaderMatch,
    HttpRoute,
    MatchKind,
    RequestMatch,
    VirtualServiceSpec,
)
from progressive.model.validate import parse_document
from progressive.routing.envoy import render_route_config
from progressive.routing.virtualservice import translate

SPECS = Path(__file__).resolve().parents[2] / "fixtures" / "specs"
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VS_DOCS = [d for p in sorted(SPECS.glob("*virtualservice*.yaml"))
           for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == "VirtualService"]

hosts = st.one_of(st.sampled_from(["croc-hunter", "croc-hunter.jx-production",
                                   "croc-hunter.jx-production.svc.cluster.local", "*", "",
                                   "a.b.c.d.e", "x.--never-ready", "a/b", "../x", "UPPER.Case"]),
                  st.text(max_size=30))
weights = st.one_of(st.integers(min_value=-3, max_value=103), st.integers())
percents = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0.0, 1.0, 99.9, 100.0, 100.01, -0.01]))  # for documents
values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=15),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                        st.integers(), max_size=2))

destinations = st.builds(Destination, host=hosts, weight=weights,
                         port=st.none() | st.integers(0, 70000),
                         subset=st.none() | st.text(max_size=5), weight_given=st.booleans())
matches = st.builds(RequestMatch,
                    headers=st.lists(st.builds(HeaderMatch, name=st.text(max_size=10),
                                               kind=st.sampled_from(list(MatchKind)),
                                               value=st.text(max_size=10)),
                                     max_size=3).map(tuple),
                    uri_prefix=st.none() | st.text(max_size=10))
routes = st.builds(HttpRoute, route=st.lists(destinations, max_size=4).map(tuple),
                   match=st.lists(matches, max_size=3).map(tuple),
                   mirror=st.none() | destinations,
                   mirror_percent=st.floats(min_value=-1.0, max_value=101.0),
                   name=st.none() | st.text(max_size=8))
models = st.builds(VirtualServiceSpec, name=st.sampled_from(["croc-hunter", "vs"]),
                   namespace=st.sampled_from(["default", "jx-production"]),
                   hosts=st.lists(hosts, max_size=3).map(tuple),
                   http=st.lists(routes, max_size=3).map(tuple))


KEYS = ["subset", "retries", "timeout", "fault", "rewrite", "mirror", "mirrorPercentage",
        "headers", "match", "weight", "host", "destination", "route", "uri", "prefix", "exact"]


@st.composite
def mutated_documents(draw):
    """A fixture VirtualService with one to three fields of its `spec` replaced, deleted or
    added (keys the reader or the translator has an opinion on)."""
    doc = copy.deepcopy(draw(st.sampled_from(VS_DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        node, path = doc["spec"], []
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(list(node) if isinstance(node, dict)
                                       else list(range(len(node)))))
            path.append((node, key))
            node = node[key]
        if isinstance(node, dict) and draw(st.booleans()):
            node[draw(st.sampled_from(KEYS))] = draw(st.one_of(values, hosts, st.fixed_dictionaries(
                {"host": hosts, "subset": st.text(max_size=4)})))
            continue
        if not path:
            http = doc["spec"].get("http")
            if isinstance(http, list) and http and isinstance(http[0], dict):
                http[0][draw(st.sampled_from(KEYS))] = draw(values)  # a field of a route
            continue
        parent, key = path[-1]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(st.one_of(values, weights, hosts, percents))
    return doc


def assert_loadable(vs: VirtualServiceSpec, vhost: dict) -> None:
    """What Envoy needs from the virtual host the translator produced."""
    assert vhost["name"] == f"{vs.namespace}/{vs.name}"
    assert vhost["domains"] and all(isinstance(d, str) for d in vhost["domains"])
    assert len(vhost["routes"]) == sum(max(1, len(h.match)) for h in vs.http)
    for route in vhost["routes"]:
        assert route["match"]["prefix"] is not None
        action = route["route"]
        clusters = action.get("weighted_clusters", {}).get("clusters", [])
        assert ("cluster" in action) != bool(clusters), action
        assert all(type(c["weight"]) is int and c["weight"] > 0 for c in clusters), clusters
        for mirror in action.get("request_mirror_policies", []):
            numerator = mirror["runtime_fraction"]["default_value"]["numerator"]
            assert type(numerator) is int and 0 <= numerator <= 1_000_000
    json.dumps(render_route_config({vhost["name"]: {"kind": "virtual-service", "seq": 0,
                                                    "virtual_host": vhost}}), allow_nan=False)


def translate_or_refuse(vs: VirtualServiceSpec, document: dict | None = None) -> None:
    try:
        vhost = translate(vs, document)
    except InvalidSpec as e:
        assert e.problems and all(p.startswith("spec.") and ": " in p for p in e.problems), \
            e.problems
        return
    assert_loadable(vs, vhost)


def test_the_fixtures_translate():
    assert VS_DOCS
    for doc in VS_DOCS:
        translate_or_refuse(parse_document(doc, "fixture.yaml"), doc)


@SETTINGS
@given(mutated_documents())
def test_any_mutated_document_is_translated_or_refused_by_field_path(doc):
    try:
        vs = parse_document(doc, "fuzz.yaml")
    except InvalidSpec:
        return  # the reader's own properties: tests/model/test_spec_properties.py
    assert isinstance(vs, VirtualServiceSpec)
    translate_or_refuse(vs, doc)


@SETTINGS
@given(models)
def test_any_model_is_translated_or_refused_by_field_path(vs):
    translate_or_refuse(vs)


@pytest.mark.parametrize("percent", [float("inf"), float("nan"), 1.8e304])
def test_a_non_finite_mirror_percentage_is_refused_by_field_path(percent):
    mirror = Destination("croc-hunter-canary", 0, weight_given=False)
    vs = VirtualServiceSpec("vs", "default", ("h",), (HttpRoute(
        route=(Destination("croc-hunter-primary", 100),), mirror=mirror, mirror_percent=percent),))
    with pytest.raises(InvalidSpec) as refused:
        translate(vs)
    assert any(p.startswith("spec.http[0].mirrorPercentage") for p in refused.value.problems)
