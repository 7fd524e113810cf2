"""The one internal model every document is read into (see SEMANTICS.md §1-§3).

Parsers in this package turn Flagger Canaries (v1alpha2 and v1beta1), Istio VirtualServices and
Shipper Applications into these frozen dataclasses; everything else (engine, routers, lint,
renderers) reads only these. Durations are seconds (floats), weights are integer percentages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

DEFAULT_INTERVAL_S = 60.0
DEFAULT_METRIC_INTERVAL_S = 60.0
DEFAULT_PROGRESS_DEADLINE_S = 600.0
DEFAULT_WEBHOOK_TIMEOUT_S = 10.0


class MetricKind(str, enum.Enum):
    REQUEST_SUCCESS_RATE = "request-success-rate"  # percent of non-5xx, threshold is a minimum
    REQUEST_DURATION = "request-duration"  # P99 in ms, threshold is a maximum
    CUSTOM = "custom"  # own PromQL in `query`


@dataclass(frozen=True)
class MetricCheck:
    name: str
    kind: MetricKind
    min: float | None = None  # fail when value < min
    max: float | None = None  # fail when value > max
    interval_s: float = DEFAULT_METRIC_INTERVAL_S  # the query window
    query: str | None = None  # PromQL template with {{ namespace }}, {{ target }}, {{ interval }}
    on_no_data: str = "fail"  # "fail" (Flagger's behaviour, the default) or "pass" (explicit opt-in)


class HookType(str, enum.Enum):
    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


@dataclass(frozen=True)
class Webhook:
    name: str
    type: HookType
    url: str
    timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S
    metadata: dict[str, str] = field(default_factory=dict)


class MatchKind(str, enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True)
class HeaderMatch:
    """One header condition (a cookie match is a header match on `cookie` with a regex)."""

    name: str
    kind: MatchKind
    value: str


@dataclass(frozen=True)
class RequestMatch:
    """All headers must match (AND); several RequestMatch in a list are OR-ed."""

    headers: tuple[HeaderMatch, ...] = ()
    uri_prefix: str | None = None


class Strategy(str, enum.Enum):
    CANARY = "canary"  # weight steps
    BLUE_GREEN = "blue-green"  # iterations, no match
    AB_TESTING = "ab-testing"  # iterations + match


@dataclass(frozen=True)
class Analysis:
    interval_s: float = DEFAULT_INTERVAL_S
    threshold: int = 1
    max_weight: int = 100
    step_weight: int = 0
    step_weights: tuple[int, ...] = ()
    step_weight_promotion: int = 0
    iterations: int = 0
    match: tuple[RequestMatch, ...] = ()
    mirror: bool = False
    mirror_weight: int = 100
    metrics: tuple[MetricCheck, ...] = ()
    webhooks: tuple[Webhook, ...] = ()

    @property
    def strategy(self) -> Strategy:
        if self.iterations > 0 and self.match:
            return Strategy.AB_TESTING
        if self.iterations > 0:
            return Strategy.BLUE_GREEN
        return Strategy.CANARY

    def hooks(self, kind: HookType) -> tuple[Webhook, ...]:
        return tuple(w for w in self.webhooks if w.type == kind)

    def effective_max_weight(self) -> int:
        return self.step_weights[-1] if self.step_weights else self.max_weight

    def next_weight(self, current: int) -> int:
        """The weight after one step from `current` (may overshoot maxWeight, capped at 100)."""
        if self.step_weights:
            for w in self.step_weights:
                if w > current:
                    return min(100, w)
            return min(100, self.step_weights[-1])
        return min(100, current + self.step_weight)

    def weight_sequence(self) -> tuple[int, ...]:
        """Canary weights the canary strategy walks through, in order, before promotion."""
        if self.strategy is not Strategy.CANARY:
            return ()
        seq: list[int] = []
        w = 0
        top = self.effective_max_weight()
        while w < top:
            nxt = self.next_weight(w)
            if nxt <= w:
                break
            seq.append(nxt)
            w = nxt
        return tuple(seq)


@dataclass(frozen=True)
class CanarySpec:
    """A Flagger Canary (either apiVersion) in one shape."""

    name: str
    namespace: str
    target: str  # targetRef.name: the Deployment / workload being delivered
    analysis: Analysis
    api_version: str = "flagger.app/v1beta1"
    progress_deadline_s: float = DEFAULT_PROGRESS_DEADLINE_S
    service_port: int = 80
    hosts: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    skip_analysis: bool = False

    @property
    def primary_name(self) -> str:
        return f"{self.target}-primary"

    @property
    def canary_name(self) -> str:
        return f"{self.target}-canary"

    def scaled(self, factor: float) -> CanarySpec:
        """Every duration multiplied by `factor` (the time scale, SEMANTICS.md §2)."""
        a = self.analysis
        metrics = tuple(replace(m, interval_s=m.interval_s * factor) for m in a.metrics)
        hooks = tuple(replace(h, timeout_s=h.timeout_s * factor) for h in a.webhooks)
        return replace(
            self,
            progress_deadline_s=self.progress_deadline_s * factor,
            analysis=replace(a, interval_s=a.interval_s * factor, metrics=metrics, webhooks=hooks),
        )


@dataclass(frozen=True)
class Destination:
    host: str  # e.g. croc-hunter-jenkinsx.jx-production.svc.cluster.local
    weight: int  # a missing weight is 0 (current Istio); see `weight_given`
    port: int | None = None
    subset: str | None = None
    weight_given: bool = True

    @property
    def service(self) -> str:
        return self.host.split(".")[0]

    @property
    def namespace(self) -> str | None:
        parts = self.host.split(".")
        return parts[1] if len(parts) > 1 else None


@dataclass(frozen=True)
class HttpRoute:
    route: tuple[Destination, ...]
    match: tuple[RequestMatch, ...] = ()  # empty: matches every request
    mirror: Destination | None = None
    mirror_percent: float = 100.0
    name: str | None = None


@dataclass(frozen=True)
class VirtualServiceSpec:
    name: str
    namespace: str
    hosts: tuple[str, ...]
    http: tuple[HttpRoute, ...]
    gateways: tuple[str, ...] = ()
    api_version: str = "networking.istio.io/v1beta1"
    warnings: tuple[str, ...] = ()  # e.g. a destination with no weight


@dataclass(frozen=True)
class ReleaseStep:
    """One Shipper strategy step: capacity and traffic percentages of both releases."""

    name: str
    incumbent_capacity: int
    incumbent_traffic: int
    contender_capacity: int
    contender_traffic: int


@dataclass(frozen=True)
class ApplicationSpec:
    """A Shipper Application: a chart/workload released through strategy steps."""

    name: str
    namespace: str
    replicas: int
    steps: tuple[ReleaseStep, ...]
    interval_s: float = DEFAULT_INTERVAL_S  # our addition: auto-advance one step per interval

    @staticmethod
    def capacity(replicas: int, pct: int) -> int:
        """Replicas for a capacity percentage: ceil(replicas * pct / 100)."""
        return -(-replicas * pct // 100)


Spec = CanarySpec | VirtualServiceSpec | ApplicationSpec
