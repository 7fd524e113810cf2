"""Canary specs built directly for the lint's tests (no YAML): the seed's Canary and variants."""

from __future__ import annotations

from dataclasses import replace

from progressive.model.types import Analysis, CanarySpec, MetricCheck, MetricKind

SUCCESS_RATE = MetricCheck("istio_requests_total", MetricKind.REQUEST_SUCCESS_RATE, min=99,
                           interval_s=60)
DURATION = MetricCheck("istio_request_duration_seconds_bucket", MetricKind.REQUEST_DURATION,
                       max=500, interval_s=30)

SEED = CanarySpec(
    name="jx-production-croc-hunter-jenkinsx",
    namespace="jx-production",
    target="jx-production-croc-hunter-jenkinsx",
    api_version="flagger.app/v1alpha2",
    progress_deadline_s=60,
    analysis=Analysis(interval_s=15, threshold=5, max_weight=50, step_weight=10,
                      metrics=(SUCCESS_RATE, DURATION)),
)


def variant(spec: CanarySpec = SEED, **analysis) -> CanarySpec:
    return replace(spec, analysis=replace(spec.analysis, **analysis))
