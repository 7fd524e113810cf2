"""Property tests: no input makes validation crash, and every accepted spec is sound.

Random YAML-like structures, mutated valid documents and random text go through the same
entry points as user files. The only exception allowed is InvalidSpec (a UserError); whatever
is accepted must satisfy the model's invariants (weights in range, steps strictly increasing).
"""

from __future__ import annotations

import copy
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_docs import APPLICATION, CANARY, OLD_CANARY, SPECS, VIRTUAL_SERVICE

from progressive.errors import InvalidSpec, UserError
from progressive.model.fields import DNS_LABEL
from progressive.model.types import ApplicationSpec, CanarySpec, Strategy, VirtualServiceSpec
from progressive.model.validate import SUPPORTED, parse_document, validate_text

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FIXTURE_DOCS = [d for p in sorted(SPECS.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
VALID_DOCS = [CANARY, OLD_CANARY, VIRTUAL_SERVICE, APPLICATION, *FIXTURE_DOCS]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, 1, 10, 50, 99, 100, 101, -1, 65535, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["15s", "1m", "0s", "-1m", "1d", "10", "http://127.0.0.1:1/", "ftp://x",
                     "exact", "regex", "(", "Canary", "croc-hunter", "../x", "rollout",
                     "request-success-rate", "istio_requests_total", "staging", "full on",
                     "http://[::1", "https://h:99999/", "a{99999999999}"]),
)
yamlish = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(
            ["name", "weight", "host", "destination", "route", "match", "headers", "metrics",
             "thresholdRange", "min", "max", "steps", "capacity", "traffic", "url", "type"])),
            inner, max_size=4),
    ),
    max_leaves=20,
)


def documents_of_a_supported_kind():
    pairs = [(kind, v) for kind, (versions, _, _) in SUPPORTED.items() for v in versions]
    return st.builds(
        lambda pair, meta, spec: {"apiVersion": pair[1], "kind": pair[0], "metadata": meta,
                                  "spec": spec},
        st.sampled_from(pairs),
        st.one_of(yamlish, st.fixed_dictionaries({"name": st.sampled_from(["croc-hunter", "X"])})),
        yamlish,
    )


def paths(node, prefix=()):
    """Every path (tuple of keys/indexes) into a document, the root excluded."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


@st.composite
def mutated_documents(draw):
    doc = copy.deepcopy(draw(st.sampled_from(VALID_DOCS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = list(paths(doc))
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(yamlish)
        else:
            parent[path[-1]] = draw(yamlish)
    return doc


def assert_sound(spec) -> None:
    """The invariants every consumer of the model relies on."""
    assert DNS_LABEL.fullmatch(spec.name) and DNS_LABEL.fullmatch(spec.namespace)
    if isinstance(spec, CanarySpec):
        a = spec.analysis
        assert DNS_LABEL.fullmatch(spec.target) and len(spec.primary_name) <= 63
        assert a.interval_s > 0 and math.isfinite(a.interval_s)
        assert a.threshold >= 1 and a.iterations >= 0
        assert 1 <= a.max_weight <= 100 and 0 <= a.mirror_weight <= 100
        assert list(a.step_weights) == sorted(set(a.step_weights))
        assert all(1 <= w <= 100 for w in a.step_weights)
        seq = a.weight_sequence()
        assert all(1 <= w <= 100 for w in seq) and list(seq) == sorted(set(seq))
        if a.strategy is Strategy.CANARY:
            assert seq, "a canary must have at least one step"
        for m in a.metrics:
            assert m.min is not None or m.max is not None
            assert m.min is None or m.max is None or m.min <= m.max
            assert m.interval_s > 0 and m.on_no_data in ("fail", "pass")
        for h in a.webhooks:
            assert h.url.startswith(("http://", "https://")) and h.timeout_s > 0
        assert spec.progress_deadline_s > 0 and 1 <= spec.service_port <= 65535
    elif isinstance(spec, VirtualServiceSpec):
        assert spec.hosts and spec.http
        for route in spec.http:
            assert route.route and all(0 <= d.weight <= 100 and d.host for d in route.route)
            assert sum(d.weight for d in route.route) > 0
            assert 0 <= route.mirror_percent <= 100
    elif isinstance(spec, ApplicationSpec):
        assert spec.steps and spec.replicas >= 1 and spec.interval_s > 0
        for s in spec.steps:
            pcts = (s.incumbent_capacity, s.incumbent_traffic, s.contender_capacity,
                    s.contender_traffic)
            assert all(0 <= p <= 100 for p in pcts)
            assert s.incumbent_traffic + s.contender_traffic > 0
    else:
        raise AssertionError(f"unexpected spec type {type(spec)}")


def parse_or_refuse(doc) -> None:
    try:
        spec = parse_document(doc, "prop.yaml")
    except InvalidSpec as e:
        assert e.problems and all(isinstance(p, str) and ": " in p for p in e.problems)
        return
    assert_sound(spec)


@SETTINGS
@given(yamlish)
def test_any_structure_is_parsed_or_refused(doc):
    parse_or_refuse(doc)


@SETTINGS
@given(documents_of_a_supported_kind())
def test_documents_of_supported_kinds_are_parsed_or_refused(doc):
    parse_or_refuse(doc)


@SETTINGS
@given(mutated_documents())
def test_mutated_valid_documents_are_parsed_or_refused(doc):
    parse_or_refuse(doc)


@SETTINGS
@given(mutated_documents())
def test_mutations_survive_the_trip_through_yaml_text(doc):
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return
    report = validate_text(text, "prop.yaml")
    for spec in report.specs:
        assert_sound(spec)
    assert report.ok or report.problem_lines()


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                 st.lists(st.sampled_from(["a:", " ", "\t", "\n", "- ", "[", "]", "{", "}", "&a ",
                                           "*a", "---\n", "? ", "!!str ", "'", '"', "#", "x", ",",
                                           "<<: ", "|\n", "1"]), max_size=60).map("".join)))
def test_any_text_gives_a_report_never_an_exception(text):
    try:
        report = validate_text(text, "prop.yaml")
    except UserError as e:  # pragma: no cover - text has no file to be unreadable
        raise AssertionError(f"validate_text raised {e!r}") from e
    assert report.ok or report.problem_lines()
    for spec in report.specs:
        assert_sound(spec)


def test_valid_documents_are_sound():
    for doc in VALID_DOCS:
        assert_sound(parse_document(doc, "valid.yaml"))
