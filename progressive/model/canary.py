"""Flagger Canary documents (both forms) -> CanarySpec, with every problem by field path.

Called by validate.py. The old form (`flagger.app/v1alpha1..3`) keeps its analysis under
`spec.canaryAnalysis`; the current form (`flagger.app/v1beta1`) under `spec.analysis`.
Decisions (SEMANTICS.md §1-§2, and ours where the page is silent):
- threshold: the old form refuses < 1; the current form reads absent or <= 0 as 1 (a warning).
- `istio_requests_total` / `request-success-rate`: `threshold` is a minimum percentage;
  `istio_request_duration_seconds_bucket` / `request-duration`: a maximum in milliseconds;
  a custom `query` with only `threshold`: a maximum. `thresholdRange` wins over `threshold`.
- A metric with a `query` is a custom check whatever its name.
- `templateRef` (a Flagger MetricTemplate) is refused unless `query` is also given: the
  project has no template store, and a check that cannot run would fail every analysis.
- `onNoData: fail|pass` is our extension (default fail, SEMANTICS.md §4).
- A webhook without `type` is a `rollout` hook, as in Flagger.
- `stepWeight` is required for the canary strategy unless `stepWeights` is given; with
  `iterations`, weights are ignored (a warning).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from progressive.model.fields import Fields, check_int, num, show
from progressive.model.matches import parse_matches
from progressive.model.types import (
    DEFAULT_METRIC_INTERVAL_S,
    DEFAULT_PROGRESS_DEADLINE_S,
    DEFAULT_WEBHOOK_TIMEOUT_S,
    Analysis,
    CanarySpec,
    HookType,
    MetricCheck,
    MetricKind,
    Webhook,
)

OLD_FORMS = ("flagger.app/v1alpha1", "flagger.app/v1alpha2", "flagger.app/v1alpha3")
CURRENT_FORMS = ("flagger.app/v1beta1",)
TARGET_MAX_LEN = 63 - len("-primary")  # so that TARGET-primary is still a DNS label

SUCCESS_RATE_NAMES = ("request-success-rate", "istio_requests_total")
DURATION_NAMES = ("request-duration", "istio_request_duration_seconds_bucket")

SPEC_KEYS = ("targetRef", "service", "analysis", "canaryAnalysis", "progressDeadlineSeconds",
              "skipAnalysis", "provider", "autoscalerRef", "ingressRef", "upstreamRef",
              "revertOnDeletion", "suspend", "metricsServer")
_TARGET_KEYS = ("apiVersion", "kind", "name")
_SERVICE_KEYS = ("port", "hosts", "gateways", "name", "portName", "targetPort", "portDiscovery",
                 "appProtocol", "timeout", "trafficPolicy", "match", "rewrite", "headers",
                 "corsPolicy", "retries", "delegation", "backends", "apex", "primary", "canary",
                 "meshName")
_ANALYSIS_KEYS = ("interval", "threshold", "maxWeight", "stepWeight", "stepWeights",
                  "stepWeightPromotion", "iterations", "match", "mirror", "mirrorWeight",
                  "metrics", "webhooks", "alerts", "primaryReadyThreshold",
                  "canaryReadyThreshold", "sessionAffinity")
_METRIC_KEYS = ("name", "interval", "threshold", "thresholdRange", "query", "templateRef",
                "templateVariables", "onNoData")
_WEBHOOK_KEYS = ("name", "type", "url", "timeout", "metadata", "muteAlert", "retries")
_HOOK_TYPES = tuple(h.value for h in HookType)


def parse_canary(spec: Fields, api_version: str, name: str | None,
                 namespace: str | None) -> CanarySpec | None:
    """The CanarySpec, or None when a problem was recorded in `spec.p`."""
    old = api_version in OLD_FORMS
    target_ref = spec.fields("targetRef", _TARGET_KEYS, required=True)
    target = None
    if target_ref is not None:
        target = target_ref.name("name", required=True, max_len=TARGET_MAX_LEN)
        kind = target_ref.str("kind")
        if kind is not None and kind not in ("Deployment", "DaemonSet"):
            spec.p.warn(target_ref.at("kind"), f"{show(kind)} is not a Deployment; the bundled "
                        "engine drives it as one")
    service = spec.fields("service", _SERVICE_KEYS)
    port, hosts, gateways = 80, (), ()
    if service is None:
        spec.p.warn(spec.at("service"), "missing; port 80 assumed")
    else:
        port = service.int("port", required=True, lo=1, hi=65535)
        hosts = service.str_list("hosts")
        gateways = service.str_list("gateways")
    deadline = spec.int("progressDeadlineSeconds", lo=1)
    skip = spec.bool("skipAnalysis")
    analysis = _analysis(spec, old, api_version)
    if spec.p.errors:
        return None
    return CanarySpec(
        name=name, namespace=namespace, target=target, analysis=analysis,
        api_version=api_version,
        progress_deadline_s=float(deadline) if deadline else DEFAULT_PROGRESS_DEADLINE_S,
        service_port=port, hosts=hosts, gateways=gateways, skip_analysis=skip,
    )


def _analysis(spec: Fields, old: bool, api_version: str) -> Analysis | None:
    key = "canaryAnalysis" if old else "analysis"
    if old and spec.has("analysis") and not spec.has("canaryAnalysis"):
        spec.p.error(spec.at("analysis"), f"{api_version} reads spec.canaryAnalysis; rename the "
                     "field or use apiVersion flagger.app/v1beta1")
        return None
    if not old and spec.has("canaryAnalysis"):
        if spec.has("analysis"):
            spec.p.warn(spec.at("canaryAnalysis"), "deprecated and ignored: spec.analysis is set")
        else:
            key = "canaryAnalysis"
            spec.p.warn(spec.at(key), "deprecated in flagger.app/v1beta1; rename it to analysis")
    a = spec.fields(key, _ANALYSIS_KEYS, required=True)
    if a is None:
        return None
    interval = a.duration("interval", default=60.0)
    threshold = _threshold(a, old)
    iterations = a.int("iterations", default=0, lo=0)
    step_weight = a.int("stepWeight", lo=1, hi=100)
    step_weights = _step_weights(a)
    max_weight = a.int("maxWeight", lo=1, hi=100)
    promotion = a.int("stepWeightPromotion", default=0, lo=0, hi=100)
    mirror = a.bool("mirror")
    mirror_weight = a.int("mirrorWeight", lo=0, hi=100)
    match = parse_matches(a, "match")
    metrics = tuple(m for m in (_metric(f) for f in a.mappings("metrics", _METRIC_KEYS)) if m)
    webhooks = tuple(w for w in (_webhook(f) for f in a.mappings("webhooks", _WEBHOOK_KEYS)) if w)

    if iterations:
        for field in ("stepWeight", "stepWeights", "maxWeight"):
            if a.has(field):
                a.p.warn(a.at(field), "ignored: iterations is set (blue-green or A/B testing)")
    else:
        if step_weights and a.has("stepWeight"):
            a.p.warn(a.at("stepWeight"), "ignored: stepWeights is set")
        if step_weights and a.has("maxWeight"):
            a.p.warn(a.at("maxWeight"), f"ignored: the last of stepWeights ({step_weights[-1]}) "
                     "is the maximum weight")
        if not a.has("stepWeight") and not a.has("stepWeights"):
            a.p.error(a.at("stepWeight"), "required for a canary analysis (or give stepWeights, "
                      "or iterations for blue-green / A/B testing)")
    if a.has("mirrorWeight") and not mirror:
        a.p.warn(a.at("mirrorWeight"), "ignored: mirror is not true")
    if a.p.errors:
        return None
    return Analysis(
        interval_s=interval, threshold=threshold, iterations=iterations,
        max_weight=step_weights[-1] if step_weights else (max_weight or 100),
        step_weight=step_weight or 0, step_weights=step_weights,
        step_weight_promotion=promotion, match=match, mirror=mirror,
        mirror_weight=100 if mirror_weight is None else mirror_weight,
        metrics=metrics, webhooks=webhooks,
    )


def _threshold(a: Fields, old: bool) -> int | None:
    if old:
        return a.int("threshold", default=1, lo=1)
    value = a.int("threshold", default=1)
    if value is not None and value <= 0:
        a.p.warn(a.at("threshold"), f"{value} is read as 1 (the default)")
        return 1
    return value


def _step_weights(a: Fields) -> tuple[int, ...]:
    items = a.items("stepWeights")
    if items is None:
        return ()
    if not items:
        a.p.error(a.at("stepWeights"), "must list at least one weight")
    out: list[int] = []
    ok = True
    for path, item in items:
        value = check_int(item, path, a.p, 1, 100)
        if value is None:
            ok = False
            continue
        if out and value <= out[-1]:
            a.p.error(path, f"stepWeights must be strictly increasing: {value} follows {out[-1]}")
            ok = False
        out.append(value)
    return tuple(out) if ok else ()


def _metric(m: Fields) -> MetricCheck | None:
    name = m.str("name", required=True)
    interval = m.duration("interval", default=DEFAULT_METRIC_INTERVAL_S)
    query = m.str("query")
    threshold = m.number("threshold")
    low, high = _threshold_range(m)
    on_no_data = m.str("onNoData", default="fail")
    if on_no_data not in (None, "fail", "pass"):
        m.p.error(m.at("onNoData"), f"must be fail or pass, got {show(on_no_data)}")
    if name is None:
        return None
    if query is not None and not query.strip():
        m.p.error(m.at("query"), "must not be empty")
        return None
    if m.has("templateRef") and query is None:
        m.p.error(m.at("templateRef"), "MetricTemplate references are not supported; put the "
                  "PromQL in query (with {{ namespace }}, {{ target }}, {{ interval }})")
        return None
    if m.has("templateRef"):
        m.p.warn(m.at("templateRef"), "ignored: query is set")
    if query is not None:
        kind = MetricKind.CUSTOM
        if name in SUCCESS_RATE_NAMES + DURATION_NAMES:
            m.p.warn(m.at("query"), f"overrides the built-in {name}: this is a custom check and "
                     "threshold is a maximum")
    elif name in SUCCESS_RATE_NAMES:
        kind = MetricKind.REQUEST_SUCCESS_RATE
    elif name in DURATION_NAMES:
        kind = MetricKind.REQUEST_DURATION
    else:
        m.p.error(m.at("name"), f"unknown metric {show(name)} and no query (built-in: "
                  f"{', '.join(SUCCESS_RATE_NAMES + DURATION_NAMES)}; or give a query)")
        return None
    if m.has("thresholdRange"):
        if m.has("threshold"):
            m.p.warn(m.at("threshold"), "ignored: thresholdRange is set")
    elif threshold is not None:
        if kind is MetricKind.REQUEST_SUCCESS_RATE:
            low = threshold
        else:
            high = threshold
    elif not m.has("threshold"):
        m.p.error(m.path, "needs thresholdRange (min and/or max) or threshold")
        return None
    _check_bounds(m, kind, low, high)
    if m.p.errors or interval is None or (low is None and high is None):
        return None
    return MetricCheck(name=name, kind=kind, min=low, max=high, interval_s=interval,
                       query=query, on_no_data=on_no_data)


def _check_bounds(m: Fields, kind: MetricKind, low: float | None, high: float | None) -> None:
    """A success rate is a percentage; a duration is not negative."""
    for bound, side in ((low, "min"), (high, "max")):
        if bound is None:
            continue
        where = m.at("thresholdRange", side) if m.has("thresholdRange") else m.at("threshold")
        if kind is MetricKind.REQUEST_SUCCESS_RATE and not 0 <= bound <= 100:
            m.p.error(where, f"a success rate is a percentage between 0 and 100, got {num(bound)}")
        if kind is MetricKind.REQUEST_DURATION and bound < 0:
            m.p.error(where, f"a duration in milliseconds cannot be negative, got {num(bound)}")


def _threshold_range(m: Fields) -> tuple[float | None, float | None]:
    r = m.fields("thresholdRange", ("min", "max"))
    if r is None:
        return None, None
    low, high = r.number("min"), r.number("max")
    if not r.has("min") and not r.has("max"):
        m.p.error(r.path, "needs min, max or both")
    if low is not None and high is not None and low > high:
        m.p.error(r.path, f"min ({num(low)}) is greater than max ({num(high)})")
    return low, high


def _webhook(w: Fields) -> Webhook | None:
    name = w.str("name", required=True)
    kind = w.str("type", default="rollout")
    url = w.str("url", required=True)
    timeout = w.duration("timeout", default=DEFAULT_WEBHOOK_TIMEOUT_S)
    metadata = {}
    meta = w.fields("metadata", None)
    if meta is not None:
        for key, value in meta.data.items():
            if not isinstance(key, str) or not isinstance(value, str):
                w.p.error(meta.at(key), "metadata values must be strings (quote them)")
            else:
                metadata[key] = value
    if kind is not None and kind not in _HOOK_TYPES:
        w.p.error(w.at("type"), f"unknown webhook type {show(kind)} (one of: "
                  f"{', '.join(_HOOK_TYPES)})")
        kind = None
    if url is not None:
        try:
            parts = urlsplit(url) if url.isprintable() else None
        except ValueError:  # e.g. an unclosed [IPv6] host
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            w.p.error(w.at("url"), f"must be an http:// or https:// URL, got {show(url)}")
            url = None
        else:
            try:
                parts.port  # noqa: B018 - raises for a port out of range
            except ValueError:
                w.p.error(w.at("url"), f"has an invalid port: {show(url)}")
                url = None
    if None in (name, kind, url, timeout):
        return None
    return Webhook(name=name, type=HookType(kind), url=url, timeout_s=timeout, metadata=metadata)
