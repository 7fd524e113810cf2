"""Flagger (fluxcd/flagger, pinned in fixtures/versions.yaml) as the engine under test.

It runs only on a cluster platform (kind, kubeconfig or k8s-local): `apply` has the platform
install Flagger for Istio once (kind: kubectl's kustomize in the cluster; k8s-local: its CRDs
and a local process), deploys the target Deployment, turns the suite's
CanarySpec into a `flagger.app/v1beta1` Canary (plus a MetricTemplate per custom query) and
waits until Flagger has initialised it; `trigger` patches the target's image and knobs, which
Flagger detects as a new revision; `status` reads the Canary's `.status`, `events` the
Kubernetes events Flagger records for it. The suites judge it exactly as they judge the bundled
engine, from the VirtualService (named after the target, as Flagger names it) and the traffic.

Differences the suites record as unsupported rather than failed are in `UNSUPPORTED` (every
platform) and `UNSUPPORTED_IN_CLUSTER` (where Flagger runs in the cluster); the pytest plugin
reads them through `unsupported_features(platform)`.

Time scale: Flagger raises an analysis interval below 10 s to 10 s (its scheduler's floor), so
`apply` scales a spec no further down than that (`scale_for`); `engine.spec`, from which the
suites derive every bound, is the spec as Flagger really runs it.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from progressive.engines.base import EngineStatus
from progressive.errors import UserError
from progressive.kube import MANAGED_BY, create_or_merge_patch
from progressive.model.durations import format_duration
from progressive.model.types import CanarySpec, MetricCheck, MetricKind, Webhook
from progressive.routing.istio import render_matches
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion
from progressive.workloads.kubernetes import CONTAINER_PORT

FLAGGER_API = "flagger.app/v1beta1"
FLAGGER_NAMESPACE = "istio-system"  # where the kustomize overlay for Istio installs it
PROMETHEUS_IN_CLUSTER = "http://prometheus.istio-system:9090"  # a platform's flagger_prometheus
# overrides it (k8s-local: Flagger is a local process with no cluster DNS)
MIN_INTERVAL_S = 10.0  # Flagger raises any analysis interval below this to this
BUILTIN_NAMES = {MetricKind.REQUEST_SUCCESS_RATE: "request-success-rate",
                 MetricKind.REQUEST_DURATION: "request-duration"}

UNSUPPORTED = {
    "sub-10s-interval": "Flagger raises an analysis interval below 10s to 10s (the engine "
    "scales a spec no further down than that instead)",
    "shipper": "Flagger has no Shipper Application (capacity/traffic release steps); its "
    "blue-green is the iterations form",
}
UNSUPPORTED_IN_CLUSTER = {
    "webhooks": "the suites' webhook receivers listen on the runner's 127.0.0.1, which Flagger "
    "in the cluster cannot reach (on k8s-local Flagger runs beside them)",
}
RUNS_BESIDE_THE_SUITES = ("k8s-local",)  # Flagger is a local process there


def unsupported_features(platform: str = "kind") -> frozenset[str]:
    """What Flagger cannot be judged on when it runs on `platform`."""
    lacking = set(UNSUPPORTED)
    if platform not in RUNS_BESIDE_THE_SUITES:
        lacking |= set(UNSUPPORTED_IN_CLUSTER)
    return frozenset(lacking)


def scale_for(spec: CanarySpec, time_scale: float) -> float:
    """`time_scale`, raised so that the spec's analysis interval stays at Flagger's 10 s floor
    or above (a shorter one would run slower than every bound derived from it)."""
    return max(time_scale, MIN_INTERVAL_S / spec.analysis.interval_s)


def _whole_seconds(seconds: float) -> float:
    return float(max(1, math.ceil(seconds - 1e-9)))


def as_flagger_runs_it(spec: CanarySpec, time_scale: float) -> CanarySpec:
    """`spec` scaled by `scale_for`, each duration then rounded up to whole seconds: Flagger's
    CRD takes durations matching `^[0-9]+(m|s)` and an integer progressDeadlineSeconds."""
    scale = scale_for(spec, time_scale)
    s = spec.scaled(scale) if scale != 1.0 else spec
    a = s.analysis
    return replace(s, progress_deadline_s=_whole_seconds(s.progress_deadline_s), analysis=replace(
        a, interval_s=_whole_seconds(a.interval_s),
        metrics=tuple(replace(m, interval_s=_whole_seconds(m.interval_s)) for m in a.metrics),
        webhooks=tuple(replace(h, timeout_s=_whole_seconds(h.timeout_s)) for h in a.webhooks)))


# -- our model -> Flagger's documents (pure) ----------------------------------------------------

def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:63].rstrip("-") or "metric"


def metric_template_name(spec: CanarySpec, metric: MetricCheck) -> str:
    return _dns_label(f"{spec.name}-{metric.name}")


def _metric(spec: CanarySpec, m: MetricCheck) -> dict:
    out: dict = {"name": BUILTIN_NAMES.get(m.kind, m.name), "interval": format_duration(m.interval_s)}
    bounds = {k: v for k, v in (("min", m.min), ("max", m.max)) if v is not None}
    out["thresholdRange"] = bounds
    if m.kind is MetricKind.CUSTOM:
        # Flagger runs the template (templateRef wins); `query` keeps the document readable by
        # our own parser, which has no template store.
        out["templateRef"] = {"name": metric_template_name(spec, m), "namespace": spec.namespace}
        out["query"] = m.query
    return out


def _webhook(w: Webhook) -> dict:
    out: dict[str, object] = {"name": w.name, "type": w.type.value, "url": w.url,
           "timeout": format_duration(w.timeout_s)}
    if w.metadata:
        out["metadata"] = dict(w.metadata)
    return out


def to_flagger_canary(spec: CanarySpec, labels: dict[str, str] | None = None) -> dict:
    """A v1beta1 Canary for `spec`. Built-in checks take their v1beta1 names
    (request-success-rate, request-duration); `onNoData: pass` has no Flagger equivalent."""
    a = spec.analysis
    analysis: dict = {"interval": format_duration(a.interval_s), "threshold": a.threshold}
    if a.iterations:
        analysis["iterations"] = a.iterations
    elif a.step_weights:
        analysis["stepWeights"] = list(a.step_weights)
    else:
        analysis["maxWeight"] = a.max_weight
        analysis["stepWeight"] = a.step_weight
    if a.step_weight_promotion:
        analysis["stepWeightPromotion"] = a.step_weight_promotion
    if a.match:
        analysis["match"] = render_matches(a.match)
    if a.mirror:
        analysis["mirror"] = True
        analysis["mirrorWeight"] = a.mirror_weight
    if a.metrics:
        analysis["metrics"] = [_metric(spec, m) for m in a.metrics]
    if a.webhooks:
        analysis["webhooks"] = [_webhook(w) for w in a.webhooks]
    service: dict = {"port": spec.service_port, "targetPort": CONTAINER_PORT}
    if spec.hosts:
        service["hosts"] = list(spec.hosts)
    if spec.gateways:
        service["gateways"] = list(spec.gateways)
    body: dict = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.target},
        "progressDeadlineSeconds": max(1, math.ceil(spec.progress_deadline_s)),
        "service": service,
        "analysis": analysis,
    }
    if spec.skip_analysis:
        body["skipAnalysis"] = True
    return {"apiVersion": FLAGGER_API, "kind": "Canary",
            "metadata": {"name": spec.name, "namespace": spec.namespace,
                         "labels": {**MANAGED_BY, **(labels or {})}},
            "spec": body}


def to_flagger_metric_templates(spec: CanarySpec, labels: dict[str, str] | None = None,
                                prometheus: str = PROMETHEUS_IN_CLUSTER) -> list[dict]:
    """One MetricTemplate per custom check (Flagger fills {{ namespace }}, {{ target }},
    {{ interval }} as we do)."""
    return [{"apiVersion": FLAGGER_API, "kind": "MetricTemplate",
             "metadata": {"name": metric_template_name(spec, m), "namespace": spec.namespace,
                          "labels": {**MANAGED_BY, **(labels or {})}},
             "spec": {"provider": {"type": "prometheus", "address": prometheus},
                      "query": m.query}}
            for m in spec.analysis.metrics if m.kind is MetricKind.CUSTOM]


def status_from_canary(canary: dict | None) -> EngineStatus:
    status = (canary or {}).get("status") or {}
    return EngineStatus(phase=status.get("phase", "") or "",
                        canary_weight=int(status.get("canaryWeight", 0) or 0),
                        failed_checks=int(status.get("failedChecks", 0) or 0),
                        iterations=int(status.get("iterations", 0) or 0))


# Flagger's event messages (pkg/controller, v1.44) -> the event vocabulary of the bundled
# engine (progressive/engine/events.py), first match wins. Flagger records no event per tick.
ACTIONS = tuple((re.compile(pattern), action) for pattern, action in (
    (r"^New revision detected! Restarting", "restart"),
    (r"^New revision detected", "new_revision"),
    (r"^Initialization done", "initialize"),
    (r"^Advance .* (canary weight|canary iteration|primary weight)", "step"),
    (r"^Routing all traffic to canary|^Stop traffic mirroring", "step"),
    (r"^Copying .* template spec", "promote"),
    (r"^Routing all traffic to primary", "finalise"),
    (r"^Promotion completed", "succeed"),
    (r"^Rolling back|^Canary failed|^Promotion of .* failed", "rollback"),
    (r"^Halt .*waiting for .*approval", "gate_halt"),
    (r"^Halt .*advancement (pre-rollout|external) check|^Post-rollout hook .* failed",
     "hook_failed"),
    (r"^Halt .*advancement", "check_failed"),
    (r"check .* passed$|^Rollback hook", "hook"),
))


def action_of(message: str) -> str:
    """The suites' name for what a Flagger event says happened ("other" when none fits)."""
    return next((action for pattern, action in ACTIONS if pattern.search(message)), "other")


def _event_time(event: dict) -> float:
    for key in ("eventTime", "firstTimestamp", "lastTimestamp"):  # first occurrence
        if event.get(key):
            return datetime.fromisoformat(event[key].replace("Z", "+00:00")).timestamp()
    created = event.get("metadata", {}).get("creationTimestamp")
    return datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() if created else 0.0


# -- the engine ---------------------------------------------------------------------------------

class FlaggerEngine:
    name = "flagger"

    def __init__(self, platform, work_dir: Path, *, time_scale: float = 1.0):
        if not hasattr(platform, "objects"):
            raise UserError("the flagger engine runs in a cluster: use --platform k8s-local, "
                            "kind or kubeconfig")
        self.platform = platform
        self.work_dir = Path(work_dir)
        self.time_scale = time_scale
        self.spec: CanarySpec | None = None
        self._run_start_spec: str | None = None

    def _spec(self) -> CanarySpec:
        if self.spec is None:
            raise UserError("no canary applied yet: call apply(spec, initial) first")
        return self.spec

    def _canary(self) -> dict | None:
        s = self._spec()
        return self.platform.objects.get(FLAGGER_API, "Canary", s.name, s.namespace)

    def apply(self, spec: CanarySpec, initial: AppVersion) -> None:
        spec = as_flagger_runs_it(spec, self.time_scale)
        if not spec.gateways and self.platform.gateway_ref:  # reachable from the ingress too
            spec = replace(spec, gateways=(self.platform.gateway_ref, "mesh"))
        self.spec = spec
        self.platform.install_flagger()
        self.platform.workloads(spec.namespace, services=False).deploy(spec.target, initial)
        labels = self.platform.labels
        templates = to_flagger_metric_templates(
            spec, labels, getattr(self.platform, "flagger_prometheus", PROMETHEUS_IN_CLUSTER))
        for doc in [*templates, to_flagger_canary(spec, labels)]:
            create_or_merge_patch(self.platform.objects, doc)
        tick = max(spec.analysis.interval_s, MIN_INTERVAL_S)
        wait_until(lambda: self.status().phase == "Initialized",
                   timeout=spec.progress_deadline_s + 2 * tick + 60, max_poll=1.0,
                   what=f"Flagger to initialise canary {spec.namespace}/{spec.name} "
                   "(primary created and ready, phase Initialized)")

    def trigger(self, app: AppVersion) -> None:
        s = self._spec()
        self._run_start_spec = ((self._canary() or {}).get("status") or {}).get("lastAppliedSpec")
        self.platform.workloads(s.namespace, services=False).deploy(s.target, app)

    def status(self) -> EngineStatus:
        return status_from_canary(self._canary())

    def _done_after_trigger(self) -> EngineStatus | None:
        status = (self._canary() or {}).get("status") or {}
        current = status_from_canary({"status": status})
        new_run = status.get("lastAppliedSpec") != self._run_start_spec
        return current if new_run and current.done else None

    def wait_done(self, timeout: float) -> EngineStatus:
        return wait_until(self._done_after_trigger, timeout=timeout, max_poll=1.0,
                          what=f"Flagger to finish the rollout of {self._spec().name} "
                          "(phase Succeeded or Failed)")

    def events(self) -> list[dict]:
        s = self._spec()
        found = self.platform.objects.list(
            "v1", "Event", s.namespace,
            field_selector=f"involvedObject.kind=Canary,involvedObject.name={s.name}")
        rows = [{"t": _event_time(e), "canary": s.name, "type": e.get("type", ""),
                 "action": action_of(e.get("message", "")), "reason": e.get("reason", ""),
                 "message": e.get("message", "")} for e in found]
        return sorted(rows, key=lambda r: r["t"])

    def unsupported_features(self) -> frozenset[str]:
        return unsupported_features(self.platform.name)

    def close(self) -> None:
        """Delete the Canary (Flagger's primary, services and routes go with it: they are
        owned by the Canary) and our MetricTemplates; the target Deployment stays."""
        if self.spec is None:
            return
        s, objects = self.spec, self.platform.objects
        objects.delete(FLAGGER_API, "Canary", s.name, s.namespace)
        for t in to_flagger_metric_templates(s):
            objects.delete(FLAGGER_API, "MetricTemplate", t["metadata"]["name"], s.namespace)
