"""Validation: every problem listed by field path, documents reported separately, public API."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_docs import BAD, CANARY, DELETE, OLD_CANARY, SPECS, VIRTUAL_SERVICE, changed, check

from progressive.errors import InvalidSpec, UserError
from progressive.model.types import CanarySpec, VirtualServiceSpec
from progressive.model.validate import (
    load_spec,
    load_specs,
    parse_document,
    supported_kinds,
    validate_file,
    validate_text,
)

A = "spec.analysis"


class TestEveryProblemTogether:
    def test_many_problems_of_one_document(self):
        doc = changed(CANARY, metadata__name="Croc_Hunter", spec__targetRef=DELETE,
                      spec__analysis__interval="soon", spec__analysis__stepWeight=150,
                      spec__analysis__maxWeight=0, spec__analysis__metrics__0__name="errors",
                      spec__analysis__metrics__1__thresholdRange={"min": 9, "max": 1},
                      spec__analysis__webhooks=[{"name": "x", "type": "later", "url": "ftp://h/",
                                                 "timeout": 10}])
        assert check(doc)[1] == [
            "metadata.name: must be a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit), got 'Croc_Hunter'",
            "spec.targetRef: required",
            f"{A}.interval: invalid duration 'soon' (examples: 30s, 1m, 1m30s, 500ms)",
            f"{A}.stepWeight: must be between 1 and 100, got 150",
            f"{A}.maxWeight: must be between 1 and 100, got 0",
            f"{A}.metrics[0].name: unknown metric 'errors' and no query (built-in: "
            "request-success-rate, istio_requests_total, request-duration, "
            "istio_request_duration_seconds_bucket; or give a query)",
            f"{A}.metrics[1].thresholdRange: min (9) is greater than max (1)",
            f"{A}.webhooks[0].timeout: must be a duration such as 30s or 1m, got the number 10 "
            "(add a unit: 10s)",
            f"{A}.webhooks[0].type: unknown webhook type 'later' (one of: confirm-rollout, "
            "pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, "
            "rollback, event)",
            f"{A}.webhooks[0].url: must be an http:// or https:// URL, got 'ftp://h/'",
        ]

    def test_corpus_file_with_many_problems(self):
        with pytest.raises(InvalidSpec) as info:
            load_specs(BAD / "canary-many-problems.yaml")
        text = str(info.value)
        for path in ("metadata.name", f"{A}.interval", f"{A}.stepWeight", f"{A}.maxWeight",
                     f"{A}.webhooks[0].type"):
            assert f"canary-many-problems.yaml (Canary Croc_Hunter): {path}: " in text
        assert len(info.value.problems) == 5

    def test_several_documents_are_reported_separately_with_their_index(self):
        report = validate_file(BAD / "multi-doc-one-bad.yaml")
        assert [d.ok for d in report.documents] == [True, False, True]
        assert report.documents[1].where.endswith("multi-doc-one-bad.yaml[1] (Canary croc-hunter)")
        assert report.problem_lines() == [
            f"{BAD / 'multi-doc-one-bad.yaml'}[1] (Canary croc-hunter): {A}.stepWeight: must be "
            "between 1 and 100, got 150"
        ]
        assert [type(s).__name__ for s in report.specs] == ["VirtualServiceSpec",
                                                            "ApplicationSpec"]

    def test_problems_of_every_document_in_one_invalid_spec(self, tmp_path: Path):
        import yaml

        f = tmp_path / "two.yaml"
        f.write_text(yaml.safe_dump_all([
            changed(CANARY, spec__analysis__stepWeight=0),
            changed(VIRTUAL_SERVICE, spec__http__0__route__0__weight=-5),
        ]))
        with pytest.raises(InvalidSpec) as info:
            load_specs(f)
        assert info.value.problems == [
            f"{f}[0] (Canary croc-hunter): {A}.stepWeight: must be between 1 and 100, got 0",
            f"{f}[1] (VirtualService croc-hunter-jenkinsx): spec.http[0].route[0].weight: must "
            "be between 0 and 100, got -5",
        ]


class TestRefusalsByPath:
    """SEMANTICS.md §1 refusals, each with its exact field path."""

    @pytest.mark.parametrize(
        ("base", "changes", "problem"),
        [
            (CANARY, {"spec__targetRef": DELETE}, "spec.targetRef: required"),
            (CANARY, {"spec__targetRef__name": DELETE}, "spec.targetRef.name: required"),
            (CANARY, {"spec__analysis__stepWeight": 0},
             f"{A}.stepWeight: must be between 1 and 100, got 0"),
            (OLD_CANARY, {"spec__canaryAnalysis__stepWeight": 150},
             "spec.canaryAnalysis.stepWeight: must be between 1 and 100, got 150"),
            (CANARY, {"spec__analysis__stepWeight": "10"},
             f"{A}.stepWeight: must be an integer, got the string '10' (remove the quotes)"),
            (CANARY, {"spec__analysis__stepWeight": True},
             f"{A}.stepWeight: must be an integer, got true (YAML reads yes/no/on/off/true/false "
             "as booleans; quote it)"),
            (CANARY, {"spec__analysis__maxWeight": 101},
             f"{A}.maxWeight: must be between 1 and 100, got 101"),
            (CANARY, {"spec__analysis__stepWeight": DELETE, "spec__analysis__stepWeights": [5, 5]},
             f"{A}.stepWeights[1]: stepWeights must be strictly increasing: 5 follows 5"),
            (CANARY, {"spec__analysis__stepWeight": DELETE,
                      "spec__analysis__stepWeights": [5, 101]},
             f"{A}.stepWeights[1]: must be between 1 and 100, got 101"),
            (CANARY, {"spec__analysis__stepWeight": DELETE, "spec__analysis__stepWeights": []},
             f"{A}.stepWeights: must list at least one weight"),
            (OLD_CANARY, {"spec__canaryAnalysis__threshold": 0},
             "spec.canaryAnalysis.threshold: must be at least 1, got 0"),
            (CANARY, {"spec__analysis__interval": "15"},
             f"{A}.interval: missing unit in duration '15' (use s, m or h, e.g. 30s)"),
            (CANARY, {"spec__analysis__metrics__1__name": "latency"},
             f"{A}.metrics[1].name: unknown metric 'latency' and no query (built-in: "
             "request-success-rate, istio_requests_total, request-duration, "
             "istio_request_duration_seconds_bucket; or give a query)"),
            (VIRTUAL_SERVICE, {"spec__http__0__route__0__weight": 0,
                               "spec__http__0__route__1__weight": 0},
             "spec.http[0].route: the weights sum to 0: no destination would receive traffic"),
            (CANARY, {"metadata__namespace": "Jx-Production"},
             "metadata.namespace: must be a DNS-1123 label (lowercase letters, digits and '-', "
             "starting and ending with a letter or digit), got 'Jx-Production'"),
        ],
    )
    def test_refusal(self, base, changes, problem):
        assert check(changed(base, **changes))[1] == [problem]

    @pytest.mark.parametrize(
        "name", ["../etc", "a/b", "croc hunter", "-croc", "croc-", "Croc", "croc.hunter",
                 "croc_hunter", "c" * 64, "croc\nhunter", "\u00e9t\u00e9"])
    def test_names_that_are_not_dns_labels(self, name):
        [problem] = check(changed(CANARY, metadata__name=name))[1]
        assert problem.startswith("metadata.name: must be")

    @pytest.mark.parametrize("name", ["croc-hunter", "a", "c" * 63, "0-9", "jx-pr-35"])
    def test_dns_labels(self, name):
        assert check(changed(CANARY, metadata__name=name))[1] == []

    def test_unknown_kind_lists_the_supported_ones(self):
        [problem] = check(changed(CANARY, kind="Rollout"))[1]
        assert problem == f"kind: 'Rollout' is not supported; supported: {supported_kinds()}"
        assert "Canary (flagger.app/v1alpha1, flagger.app/v1alpha2, flagger.app/v1alpha3, " \
               "flagger.app/v1beta1)" in problem
        assert "VirtualService (networking.istio.io/v1alpha3, networking.istio.io/v1beta1, " \
               "networking.istio.io/v1)" in problem
        assert "Application (shipper.booking.com/v1alpha1)" in problem

    def test_unknown_kind_skips_the_spec_but_still_checks_metadata(self):
        assert check(changed(CANARY, kind="Rollout", metadata__name="A"))[1][0].startswith(
            "metadata.name")


class TestPublicApi:
    def test_parse_document(self):
        spec = parse_document(CANARY, "inline")
        assert isinstance(spec, CanarySpec) and spec.target == "croc-hunter"
        with pytest.raises(InvalidSpec) as info:
            parse_document(changed(CANARY, spec__analysis__stepWeight=150), "inline")
        assert str(info.value) == ("inline: invalid:\n  spec.analysis.stepWeight: must be "
                                   "between 1 and 100, got 150")

    @pytest.mark.parametrize("junk", [None, [], "text", 3, {"apiVersion": ["x"]}])
    def test_parse_document_refuses_junk_with_invalid_spec(self, junk):
        with pytest.raises(InvalidSpec):
            parse_document(junk, "inline")

    def test_load_spec_checks_count_and_type(self):
        assert isinstance(load_spec(SPECS / "seed-canary.yaml", CanarySpec), CanarySpec)
        with pytest.raises(UserError, match="expected exactly one VirtualService document, "
                                            "found 0"):
            load_spec(SPECS / "seed-canary.yaml", VirtualServiceSpec)

    def test_validate_file_never_raises_for_content(self):
        for path in sorted(BAD.iterdir()):
            report = validate_file(path)
            assert not report.ok, path

    def test_validate_text(self):
        report = validate_text("kind: Canary\n", name="snippet.yaml")
        assert not report.ok
        assert report.problem_lines()[0] == "snippet.yaml (Canary): apiVersion: required"

    def test_every_good_fixture_is_valid(self):
        for path in sorted(SPECS.glob("*.yaml")):
            assert validate_file(path).ok, path
