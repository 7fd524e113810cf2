"""Flagger Canary documents (old and current form) read into CanarySpec: mapping and defaults."""

from __future__ import annotations

import pytest
from spec_docs import CANARY, DELETE, OLD_CANARY, SPECS, changed, check

from progressive.model.types import HookType, MatchKind, MetricKind, Strategy
from progressive.model.validate import load_spec, load_specs


def parsed(doc):
    spec, problems, warnings = check(doc)
    assert problems == [], problems
    return spec, warnings


class TestSeedCanary:
    """The seed's v1alpha2 Canary, unchanged, means what the article says it means."""

    def test_values(self):
        [spec] = load_specs(SPECS / "seed-canary.yaml")
        a = spec.analysis
        assert (spec.name, spec.namespace) == ("jx-production-croc-hunter-jenkinsx",
                                               "jx-production")
        assert spec.target == "jx-production-croc-hunter-jenkinsx"
        assert spec.api_version == "flagger.app/v1alpha2"
        assert spec.progress_deadline_s == 60
        assert spec.service_port == 8080
        assert spec.hosts == ("croc-hunter.istio.example.com",)
        assert spec.gateways == ("public-gateway.istio-system.svc.cluster.local",)
        assert (a.interval_s, a.threshold, a.max_weight, a.step_weight) == (15, 5, 50, 10)
        assert a.strategy is Strategy.CANARY
        assert a.weight_sequence() == (10, 20, 30, 40, 50)

    def test_metrics(self):
        [spec] = load_specs(SPECS / "seed-canary.yaml")
        rate, duration = spec.analysis.metrics
        assert (rate.kind, rate.min, rate.max, rate.interval_s) == (
            MetricKind.REQUEST_SUCCESS_RATE, 99, None, 60)
        assert (duration.kind, duration.min, duration.max, duration.interval_s) == (
            MetricKind.REQUEST_DURATION, None, 500, 30)
        assert rate.on_no_data == duration.on_no_data == "fail"


class TestDefaults:
    """SEMANTICS.md §2."""

    def test_interval_60s_and_deadline_600s(self):
        spec, _ = parsed(changed(CANARY, spec__analysis__interval=DELETE))
        assert spec.analysis.interval_s == 60
        assert spec.progress_deadline_s == 600

    @pytest.mark.parametrize("given", [DELETE, 0, -2])
    def test_current_form_threshold_absent_or_not_positive_is_1(self, given):
        spec, warnings = parsed(changed(CANARY, spec__analysis__threshold=given))
        assert spec.analysis.threshold == 1
        if given is not DELETE:
            assert f"spec.analysis.threshold: {given} is read as 1 (the default)" in warnings

    def test_old_form_threshold_absent_is_1(self):
        spec, _ = parsed(changed(OLD_CANARY, spec__canaryAnalysis__threshold=DELETE))
        assert spec.analysis.threshold == 1

    @pytest.mark.parametrize("given", [0, -1])
    def test_old_form_threshold_below_1_is_refused(self, given):
        _, problems, _ = check(changed(OLD_CANARY, spec__canaryAnalysis__threshold=given))
        assert problems == [f"spec.canaryAnalysis.threshold: must be at least 1, got {given}"]

    def test_max_weight_100_without_max_or_steps(self):
        spec, _ = parsed(changed(CANARY, spec__analysis__maxWeight=DELETE))
        assert spec.analysis.max_weight == 100
        assert spec.analysis.weight_sequence() == tuple(range(10, 101, 10))

    def test_max_weight_is_last_step_weight(self):
        doc = changed(CANARY, spec__analysis__maxWeight=DELETE, spec__analysis__stepWeight=DELETE,
                      spec__analysis__stepWeights=[1, 5, 25, 50])
        spec, warnings = parsed(doc)
        assert spec.analysis.effective_max_weight() == spec.analysis.max_weight == 50
        assert spec.analysis.weight_sequence() == (1, 5, 25, 50)
        assert warnings == []

    def test_max_weight_beside_step_weights_is_ignored_with_a_warning(self):
        doc = changed(CANARY, spec__analysis__stepWeight=DELETE,
                      spec__analysis__stepWeights=[10, 20])
        spec, warnings = parsed(doc)
        assert spec.analysis.effective_max_weight() == 20
        assert ("spec.analysis.maxWeight: ignored: the last of stepWeights (20) is the maximum "
                "weight") in warnings

    def test_metric_interval_1m_and_webhook_defaults(self):
        doc = changed(CANARY, spec__analysis__metrics__0__interval=DELETE,
                      spec__analysis__webhooks=[{"name": "load", "url": "http://127.0.0.1:1/"}])
        spec, _ = parsed(doc)
        assert spec.analysis.metrics[0].interval_s == 60
        [hook] = spec.analysis.webhooks
        assert (hook.type, hook.timeout_s, hook.metadata) == (HookType.ROLLOUT, 10, {})

    def test_namespace_default_and_service_port_default(self):
        spec, warnings = parsed(changed(CANARY, metadata__namespace=DELETE, spec__service=DELETE))
        assert (spec.namespace, spec.service_port) == ("default", 80)
        assert "spec.service: missing; port 80 assumed" in warnings

    def test_overshoot_is_kept(self):
        spec, _ = parsed(changed(CANARY, spec__analysis__stepWeight=20))
        assert spec.analysis.weight_sequence() == (20, 40, 60)


class TestMetricMapping:
    def test_old_names_with_threshold_min_and_max(self):
        spec, _ = parsed(OLD_CANARY)
        rate, duration = spec.analysis.metrics
        assert (rate.kind, rate.min, rate.max) == (MetricKind.REQUEST_SUCCESS_RATE, 99, None)
        assert (duration.kind, duration.min, duration.max) == (
            MetricKind.REQUEST_DURATION, None, 500)

    def test_current_names_with_threshold_are_min_and_max_too(self):
        doc = changed(CANARY, spec__analysis__metrics=[
            {"name": "request-success-rate", "threshold": 95},
            {"name": "request-duration", "threshold": 250}])
        rate, duration = parsed(doc)[0].analysis.metrics
        assert (rate.min, rate.max, duration.min, duration.max) == (95, None, None, 250)

    def test_threshold_range_min_and_max(self):
        doc = changed(CANARY, spec__analysis__metrics__0__thresholdRange={"min": 98.5, "max": 100})
        rate = parsed(doc)[0].analysis.metrics[0]
        assert (rate.min, rate.max) == (98.5, 100)

    def test_threshold_range_wins_over_threshold(self):
        doc = changed(CANARY, spec__analysis__metrics__1__threshold=100)
        spec, warnings = parsed(doc)
        assert spec.analysis.metrics[1].max == 500
        assert "spec.analysis.metrics[1].threshold: ignored: thresholdRange is set" in warnings

    def test_custom_query_with_threshold_is_a_maximum(self):
        doc = changed(CANARY, spec__analysis__metrics=[
            {"name": "error-ratio", "query": "sum(rate(x[{{ interval }}]))", "threshold": 5}])
        [m] = parsed(doc)[0].analysis.metrics
        assert (m.kind, m.min, m.max, m.query) == (
            MetricKind.CUSTOM, None, 5, "sum(rate(x[{{ interval }}]))")

    def test_query_turns_a_builtin_name_into_a_custom_check(self):
        doc = changed(CANARY, spec__analysis__metrics=[
            {"name": "request-success-rate", "query": "vector(99)", "threshold": 99}])
        spec, warnings = parsed(doc)
        assert spec.analysis.metrics[0].kind is MetricKind.CUSTOM
        assert spec.analysis.metrics[0].max == 99
        assert any("overrides the built-in request-success-rate" in w for w in warnings)

    def test_template_ref_with_a_query_uses_the_query(self):
        doc = changed(CANARY, spec__analysis__metrics=[
            {"name": "errors", "templateRef": {"name": "errors"}, "query": "vector(0)",
             "thresholdRange": {"max": 1}}])
        spec, warnings = parsed(doc)
        assert spec.analysis.metrics[0].query == "vector(0)"
        assert "spec.analysis.metrics[0].templateRef: ignored: query is set" in warnings

    def test_on_no_data_opt_in(self):
        doc = changed(CANARY, spec__analysis__metrics__0__onNoData="pass")
        assert parsed(doc)[0].analysis.metrics[0].on_no_data == "pass"


class TestStrategies:
    def test_fixtures(self):
        def strategy(name):
            return load_spec(SPECS / name).analysis

        assert strategy("canary-stepweight.yaml").weight_sequence() == (10, 20, 30, 40, 50)
        assert strategy("canary-stepweights.yaml").weight_sequence() == (1, 5, 25, 50)
        bg = strategy("canary-blue-green.yaml")
        assert (bg.strategy, bg.iterations, bg.weight_sequence()) == (Strategy.BLUE_GREEN, 10, ())
        ab = strategy("canary-ab.yaml")
        assert ab.strategy is Strategy.AB_TESTING
        (insider,), (cookie,) = (m.headers for m in ab.match)
        assert (insider.name, insider.kind, insider.value) == ("x-canary", MatchKind.EXACT,
                                                               "insider")
        assert (cookie.name, cookie.kind) == ("cookie", MatchKind.REGEX)
        mirror = strategy("canary-mirror.yaml")
        assert (mirror.mirror, mirror.mirror_weight, mirror.strategy) == (
            True, 100, Strategy.BLUE_GREEN)

    def test_every_webhook_type(self):
        hooks = load_spec(SPECS / "canary-webhooks.yaml").analysis.webhooks
        assert {h.type for h in hooks} == set(HookType)
        load = next(h for h in hooks if h.name == "load-test")
        assert (load.timeout_s, load.metadata["cmd"][:3]) == (5, "hey")

    def test_iterations_make_step_weight_optional_and_ignored(self):
        doc = changed(CANARY, spec__analysis__iterations=5)
        spec, warnings = parsed(doc)
        assert spec.analysis.strategy is Strategy.BLUE_GREEN
        assert ("spec.analysis.stepWeight: ignored: iterations is set (blue-green or A/B "
                "testing)") in warnings
        doc = changed(CANARY, spec__analysis__iterations=5, spec__analysis__stepWeight=DELETE,
                      spec__analysis__maxWeight=DELETE)
        assert parsed(doc)[1] == []

    def test_v1beta1_accepts_canary_analysis_with_a_deprecation_warning(self):
        doc = changed(OLD_CANARY, apiVersion="flagger.app/v1beta1")
        spec, warnings = parsed(doc)
        assert spec.analysis.step_weight == 10
        assert ("spec.canaryAnalysis: deprecated in flagger.app/v1beta1; rename it to analysis"
                in warnings)

    @pytest.mark.parametrize("version", ["flagger.app/v1alpha1", "flagger.app/v1alpha3"])
    def test_other_old_versions_read_canary_analysis(self, version):
        spec, _ = parsed(changed(OLD_CANARY, apiVersion=version))
        assert spec.api_version == version
        assert spec.analysis.weight_sequence() == (10, 20, 30, 40, 50)

    def test_scaled_keeps_the_shape(self):
        spec = load_spec(SPECS / "seed-canary.yaml").scaled(0.1)
        assert spec.analysis.interval_s == pytest.approx(1.5)
        assert spec.analysis.weight_sequence() == (10, 20, 30, 40, 50)


class TestWarningsNotRefusals:
    def test_unknown_fields_warn(self):
        doc = changed(CANARY, spec__analysis__stepWieght=20, spec__owner="team-a")
        spec, warnings = parsed(doc)
        assert spec is not None
        assert "spec.analysis.stepWieght: unknown field, ignored" in warnings
        assert "spec.owner: unknown field, ignored" in warnings

    def test_known_flagger_fields_we_do_not_use_are_silent(self):
        doc = changed(CANARY, spec__provider="istio", spec__autoscalerRef={"name": "x"},
                      spec__analysis__alerts=[], spec__service__portDiscovery=True)
        assert parsed(doc)[1] == []
