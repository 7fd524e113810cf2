"""Built-in check templates: durations, rendering, which query a check runs."""

from __future__ import annotations

import pytest

from progressive.metrics.builtin import (
    REQUEST_DURATION,
    REQUEST_SUCCESS_RATE,
    prometheus_duration,
    query_for,
    render,
    unknown_placeholders,
)
from progressive.model.types import MetricCheck, MetricKind


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "1m"),
        (30, "30s"),
        (90, "90s"),
        (3600, "1h"),
        (120, "2m"),
        (1.5, "1500ms"),
        (0.25, "250ms"),
        (6.0, "6s"),
        (60 * 0.1, "6s"),  # a time-scaled 1m; float error must not leak into the text
        (15 * 0.1, "1500ms"),
    ],
)
def test_windows_are_prometheus_durations(seconds, text):
    assert prometheus_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, 0.0001, float("nan"), float("inf")])
def test_a_window_must_be_positive_and_at_least_a_millisecond(seconds):
    with pytest.raises(ValueError, match="window"):
        prometheus_duration(seconds)


def test_render_fills_every_placeholder_with_or_without_spaces():
    text = render("{{ namespace }}/{{target}}/{{  interval }}", "prod", "app-canary", 60)
    assert text == "prod/app-canary/1m"


def test_render_leaves_unknown_placeholders_for_validation_to_report():
    template = 'x{a="{{ variables.zone }}"}[{{ interval }}]'
    assert render(template, "ns", "t", 30) == 'x{a="{{ variables.zone }}"}[30s]'
    assert unknown_placeholders(template) == {"variables.zone"}
    assert unknown_placeholders(REQUEST_SUCCESS_RATE) == set()


def test_success_rate_is_non_5xx_over_all_destination_requests_in_percent():
    q = query_for(MetricCheck("ok", MetricKind.REQUEST_SUCCESS_RATE, min=99), "prod", "web")
    flat = " ".join(q.split())
    assert "{{" not in q
    assert flat.count('reporter="destination"') == 2
    assert flat.count('destination_workload_namespace="prod"') == 2
    assert flat.count('destination_workload=~"web"') == 2
    assert 'response_code!~"5.*"' in flat
    assert flat.count("[1m]") == 2
    assert flat.endswith("* 100")


def test_duration_is_the_p99_of_the_istio_histogram_in_ms():
    check = MetricCheck("p99", MetricKind.REQUEST_DURATION, max=500, interval_s=1.5)
    flat = " ".join(query_for(check, "prod", "web").split())
    assert flat.startswith("histogram_quantile(0.99,")
    assert "sum by (le) ( rate(istio_request_duration_milliseconds_bucket{" in flat
    assert "[1500ms]" in flat
    assert "{{" not in render(REQUEST_DURATION, "a", "b", 1)


def test_custom_check_runs_its_own_query_rendered():
    check = MetricCheck(
        "errors",
        MetricKind.CUSTOM,
        max=1,
        interval_s=30,
        query='sum(rate(http_errors{ns="{{ namespace }}", app="{{ target }}"}[{{ interval }}]))',
    )
    assert query_for(check, "prod", "web") == 'sum(rate(http_errors{ns="prod", app="web"}[30s]))'


def test_custom_check_without_a_query_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'errors'"):
        query_for(MetricCheck("errors", MetricKind.CUSTOM), "prod", "web")
