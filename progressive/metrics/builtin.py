"""The built-in checks as PromQL templates, and how a MetricCheck becomes a query.

The engine calls `query_for(check, namespace, target)` once per check per tick and hands the
text to a MetricsProvider. The two built-in checks use Istio's metric and label names (as
Flagger's Istio provider does), so the same text runs against Istio's Prometheus in a cluster
and against the local platform's recording rules. What a missing value means (fail, or pass
when the spec opts in) is the engine's decision, not this module's.

Placeholders: `{{ namespace }}`, `{{ target }}` (the workload whose traffic is analysed, a
regex as in Flagger) and `{{ interval }}` (the check's window as a Prometheus duration).
"""

from __future__ import annotations

import math
import re

from progressive.model.types import MetricCheck, MetricKind

# Share of requests not answered 5xx, in percent (threshold is a minimum).
REQUEST_SUCCESS_RATE = """\
sum(
  rate(istio_requests_total{
    reporter="destination",
    destination_workload_namespace="{{ namespace }}",
    destination_workload=~"{{ target }}",
    response_code!~"5.*"
  }[{{ interval }}])
)
/
sum(
  rate(istio_requests_total{
    reporter="destination",
    destination_workload_namespace="{{ namespace }}",
    destination_workload=~"{{ target }}"
  }[{{ interval }}])
)
* 100"""

# 99th percentile of request duration, in milliseconds (threshold is a maximum).
REQUEST_DURATION = """\
histogram_quantile(0.99,
  sum by (le) (
    rate(istio_request_duration_milliseconds_bucket{
      reporter="destination",
      destination_workload_namespace="{{ namespace }}",
      destination_workload=~"{{ target }}"
    }[{{ interval }}])
  )
)"""

TEMPLATES = {
    MetricKind.REQUEST_SUCCESS_RATE: REQUEST_SUCCESS_RATE,
    MetricKind.REQUEST_DURATION: REQUEST_DURATION,
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
KNOWN_PLACEHOLDERS = frozenset({"namespace", "target", "interval"})


def prometheus_duration(seconds: float) -> str:
    """`60` -> `1m`, `30` -> `30s`, `1.5` -> `1500ms` (time-scaled windows are fractional)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a query window must be a positive duration, got {seconds!r}")
    ms = round(seconds * 1000)
    if ms < 1:
        raise ValueError(f"a query window must be at least 1ms, got {seconds!r}s")
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    for unit, size in (("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def unknown_placeholders(template: str) -> set[str]:
    """Placeholders `render` would leave in place (for spec validation)."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(template)} - KNOWN_PLACEHOLDERS


def render(template: str, namespace: str, target: str, interval_s: float) -> str:
    values = {
        "namespace": namespace,
        "target": target,
        "interval": prometheus_duration(interval_s),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def query_for(check: MetricCheck, namespace: str, target: str) -> str:
    """The PromQL to run for `check`: its built-in template or its own query, rendered."""
    if check.kind is MetricKind.CUSTOM:
        if not check.query:
            raise ValueError(f"metric {check.name!r} is custom but has no query")
        template = check.query
    else:
        template = TEMPLATES[check.kind]
    return render(template, namespace, target, check.interval_s)
