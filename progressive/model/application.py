"""Shipper Application documents -> ApplicationSpec (blue-green / staged switchover steps).

Called by validate.py. Decisions where Shipper leaves room:
- replicas: `spec.template.values.replicaCount` (where Shipper's charts read it), else
  `spec.template.replicaCount` (our shorthand), else 1 with a warning: the chart's own default
  is not read.
- a step is a mapping `{name, capacity: {incumbent, contender}, traffic: {incumbent,
  contender}}` with all four percentages 0..100, or one of the named short forms `staging`,
  `50/50`, `full on` (SEMANTICS.md §9).
- `spec.template.strategy.interval` (our addition): one step per interval, default 60s.
A step that sends traffic to a release with 0% capacity, or no traffic at all, is refused;
a last step that leaves traffic on the incumbent draws a warning (the release never finishes).
"""

from __future__ import annotations

from progressive.model.fields import Fields, describe, show
from progressive.model.types import DEFAULT_INTERVAL_S, ApplicationSpec, ReleaseStep

SHORT_STEPS = {
    "staging": ReleaseStep("staging", 100, 100, 100, 0),
    "50/50": ReleaseStep("50/50", 100, 50, 100, 50),
    "full on": ReleaseStep("full on", 0, 0, 100, 100),
}
SPEC_KEYS = ("template", "revisionHistoryLimit")
_TEMPLATE_KEYS = ("chart", "clusterRequirements", "strategy", "values", "replicaCount")
_STEP_KEYS = ("name", "capacity", "traffic")
_SIDES = ("incumbent", "contender")


def parse_application(spec: Fields, api_version: str, name: str | None,
                      namespace: str | None) -> ApplicationSpec | None:
    """The ApplicationSpec, or None when a problem was recorded in `spec.p`."""
    template = spec.fields("template", _TEMPLATE_KEYS, required=True)
    if template is None:
        return None
    replicas = _replicas(template)
    strategy = template.fields("strategy", ("steps", "interval"), required=True)
    steps: list[ReleaseStep | None] = []
    interval = DEFAULT_INTERVAL_S
    if strategy is not None:
        interval = strategy.duration("interval", default=DEFAULT_INTERVAL_S)
        for path, item in strategy.items("steps", required=True) or ():
            steps.append(_step(strategy, path, item))
        if isinstance(strategy.raw("steps"), list) and not strategy.raw("steps"):
            strategy.p.error(strategy.at("steps"), "must list at least one step")
    if spec.p.errors or strategy is None or not steps:
        return None
    names = [s.name for s in steps]
    for i, step_name in enumerate(names):
        if step_name in names[:i]:
            spec.p.warn(f"{strategy.at('steps')}[{i}].name", f"{show(step_name)} is used twice")
    last = steps[-1]
    if last.contender_traffic < 100 or last.incumbent_traffic > 0:
        spec.p.warn(f"{strategy.at('steps')}[{len(steps) - 1}]", "the last step leaves traffic "
                    "on the incumbent, so the release never completes")
    return ApplicationSpec(name=name, namespace=namespace, replicas=replicas,
                           steps=tuple(steps), interval_s=interval)


def _replicas(template: Fields) -> int | None:
    values = template.fields("values", None)
    if values is not None and values.has("replicaCount"):
        return values.int("replicaCount", lo=1, hi=10_000)
    if template.has("replicaCount"):
        return template.int("replicaCount", lo=1, hi=10_000)
    template.p.warn(template.at("values", "replicaCount"),
                    "not set; 1 replica assumed (the chart's own default is not read)")
    return 1


def _step(strategy: Fields, path: str, item: object) -> ReleaseStep | None:
    p = strategy.p
    if isinstance(item, str):
        if item in SHORT_STEPS:
            return SHORT_STEPS[item]
        p.error(path, f"unknown named step {show(item)} (named steps: "
                f"{', '.join(SHORT_STEPS)}; or give name, capacity and traffic)")
        return None
    if not isinstance(item, dict):
        p.error(path, f"must be a mapping (name, capacity, traffic) or a named step, "
                f"got {describe(item)}")
        return None
    step = Fields(item, path, p, _STEP_KEYS)
    name = step.str("name", required=True)
    pct = {}
    for part in ("capacity", "traffic"):
        f = step.fields(part, _SIDES, required=True)
        for side in _SIDES:
            pct[part, side] = f.int(side, required=True, lo=0, hi=100) if f else None
    if name is None or None in pct.values():
        return None
    for side in _SIDES:
        if pct["traffic", side] > 0 and pct["capacity", side] == 0:
            p.error(step.at("traffic", side), f"sends {pct['traffic', side]}% of traffic to the "
                    f"{side}, which has 0% capacity")
    if pct["traffic", "incumbent"] + pct["traffic", "contender"] == 0:
        p.error(step.at("traffic"), "sends no traffic to either release")
    return ReleaseStep(
        name=name,
        incumbent_capacity=pct["capacity", "incumbent"],
        incumbent_traffic=pct["traffic", "incumbent"],
        contender_capacity=pct["capacity", "contender"],
        contender_traffic=pct["traffic", "contender"],
    )
