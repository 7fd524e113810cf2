"""What each strategy does after a passing analysis tick: the next routing move, or promote.

Pure functions of the analysis, the live routes and the iteration count; the engine
(engine/loop.py) runs the gate a move names, applies it and counts the iteration.

- canary (weights): step by `stepWeight` or along `stepWeights` (overshooting `maxWeight` is
  allowed, 100 is the cap) until the weight is at or above the max weight, then promote.
  Gate: `confirm-traffic-increase` before a step, `confirm-promotion` before promoting.
  Mirroring (`analysis.mirror`), as Flagger does it: from weight 0 the first move mirrors a
  copy of the traffic to the canary (routes stay 100/0, canary responses discarded), gated by
  confirm-traffic-increase; the analysis of the next tick runs on the mirrored traffic; the
  move after it stops mirroring and sets the first real weight, without a second gate.
- blue-green (`iterations`, no match, SEMANTICS §9): N iterations with no production traffic
  to the canary (mirrored when `mirror`), then one move to 0/100, then promote.
  confirm-promotion gates both the switch and the promotion.
- A/B (`iterations` + `match`, §10): every iteration routes the requests that match to the
  canary (set_routes(0, 100): the router applies the spec's match), N iterations, then
  confirm-promotion and promote.

Promotion with `stepWeightPromotion` moves the primary up by that step per tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from progressive.model.types import Analysis, HookType, Strategy
from progressive.routing.base import Routes


@dataclass(frozen=True)
class Move:
    primary: int
    canary: int
    mirrored: bool
    why: str
    gate: HookType | None = None
    iterations: int = 0  # added to the iteration count once applied

    def same_as(self, routes: Routes) -> bool:
        return (self.primary, self.canary, self.mirrored) == (
            routes.primary_weight,
            routes.canary_weight,
            routes.mirrored,
        )


@dataclass(frozen=True)
class Promote:
    gate: HookType = HookType.CONFIRM_PROMOTION


def next_move(analysis: Analysis, routes: Routes, iterations: int) -> Move | Promote:
    strategy = analysis.strategy
    if strategy is Strategy.AB_TESTING:
        return _ab(analysis, iterations)
    if strategy is Strategy.BLUE_GREEN:
        return _blue_green(analysis, routes, iterations)
    return _canary(analysis, routes)


def _canary(analysis: Analysis, routes: Routes) -> Move | Promote:
    weight = routes.canary_weight
    if weight >= analysis.effective_max_weight():
        return Promote()
    nxt = analysis.next_weight(weight)
    if analysis.mirror and weight == 0:
        if not routes.mirrored:
            return Move(100, 0, True, "mirroring traffic to the canary at weight 0",
                        gate=HookType.CONFIRM_TRAFFIC_INCREASE)
        return Move(100 - nxt, nxt, False, f"stop mirroring; advance canary weight to {nxt}")
    return Move(100 - nxt, nxt, False, f"advance canary weight to {nxt}",
                gate=HookType.CONFIRM_TRAFFIC_INCREASE)


def _blue_green(analysis: Analysis, routes: Routes, iterations: int) -> Move | Promote:
    n = analysis.iterations
    if iterations < n:
        mirrored = analysis.mirror or routes.mirrored
        how = "mirrored traffic" if mirrored else "no production traffic"
        return Move(100, 0, mirrored, f"iteration {iterations + 1}/{n} ({how})", iterations=1)
    if iterations == n:
        return Move(0, 100, False, "switching all traffic to the canary",
                    gate=HookType.CONFIRM_PROMOTION, iterations=1)
    return Promote()


def _ab(analysis: Analysis, iterations: int) -> Move | Promote:
    n = analysis.iterations
    if iterations < n:
        return Move(0, 100, False, f"iteration {iterations + 1}/{n} (matching requests to the canary)",
                    iterations=1)
    return Promote()


def promotion_move(analysis: Analysis, routes: Routes) -> Move:
    """The next routing move while Promoting; primary weight 100 means Finalising."""
    step = analysis.step_weight_promotion
    canary = 0 if step <= 0 else max(0, routes.canary_weight - step)
    why = ("routing all traffic to the primary" if canary == 0
           else f"promotion: primary weight {100 - canary}")
    return Move(100 - canary, canary, False, why)
