"""Metric checks and webhooks for one canary: verdicts with the reason in words (SEMANTICS §4, §8).

Used by the engine's tick (engine/loop.py). Everything it talks to is injected: the
MetricsProvider, `query_for(check, namespace, target) -> PromQL` (default:
progressive.metrics.builtin.query_for) and `hooks(hook, payload) -> result` with `.ok`,
`.status`, `.error` (default: progressive.engine.webhooks.call_webhook; the payload comes
from its `hook_payload`). Each call is reported through `emit(action, message)`, which the
engine turns into an event.

Rules kept here:
- a check whose query returns no data or NaN fails, unless the check opts in with
  `on_no_data: pass`; a query error or timeout always fails (nothing passes silently);
- a check compares against its `min` and/or `max` (the old form's thresholds were mapped to
  these by the parser);
- hooks of one type run in spec order and stop at the first failure; a hook that raises is a
  failed hook;
- a `rollback` hook that answers success asks for a rollback; post-rollout failures are logged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from progressive.engine.webhooks import hook_payload
from progressive.metrics.base import MetricsProvider, NoValues
from progressive.model.types import CanarySpec, HookType, MetricCheck, Webhook

Emit = Callable[[str, str], None]
QueryFor = Callable[[MetricCheck, str, str], str]
CallHook = Callable[[Webhook, dict], Any]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def judge(check: MetricCheck, value: float) -> Verdict:
    """Compare one value with the check's bounds; NaN is 'no data'."""
    if math.isnan(value):
        return _no_data(check, " (NaN)")
    if check.min is not None and value < check.min:
        return Verdict(False, f"{check.name} {value:.2f} < min {check.min:g}")
    if check.max is not None and value > check.max:
        return Verdict(False, f"{check.name} {value:.2f} > max {check.max:g}")
    bounds = [f">= min {check.min:g}" if check.min is not None else "",
              f"<= max {check.max:g}" if check.max is not None else ""]
    return Verdict(True, f"{check.name} {value:.2f} {' and '.join(b for b in bounds if b)}".rstrip())


def _no_data(check: MetricCheck, detail: str = "") -> Verdict:
    if check.on_no_data == "pass":
        return Verdict(True, f"no data for {check.name}{detail}: passes (onNoData: pass)")
    return Verdict(False, f"no data for {check.name}{detail}")


class Checks:
    def __init__(
        self,
        spec: CanarySpec,
        metrics: MetricsProvider,
        call_hook: CallHook,
        query_for: QueryFor,
        emit: Emit,
    ):
        self.spec = spec
        self.metrics = metrics
        self.call_hook = call_hook
        self.query_for = query_for
        self.emit = emit

    # -- metrics ----------------------------------------------------------------------------

    def evaluate(self, check: MetricCheck) -> Verdict:
        try:
            query = self.query_for(check, self.spec.namespace, self.spec.canary_name)
        except Exception as exc:  # noqa: BLE001 - a broken template is a failed check
            return Verdict(False, f"cannot build the query for {check.name}: {exc}")
        try:
            value = float(self.metrics.run_query(query))
        except NoValues:
            return _no_data(check)
        except Exception as exc:  # noqa: BLE001 - QueryFailed and any provider error count
            return Verdict(False, f"query failed for {check.name}: {exc}")
        return judge(check, value)

    def metrics_pass(self) -> bool:
        """Every check in spec order; the first failure ends the analysis of this tick."""
        for check in self.spec.analysis.metrics:
            verdict = self.evaluate(check)
            self.emit("check" if verdict.ok else "check_failed", verdict.message)
            if not verdict.ok:
                return False
        return True

    # -- webhooks ---------------------------------------------------------------------------

    def _call(self, hook: Webhook, phase: str, checksum: str | None) -> tuple[bool, str]:
        try:
            result = self.call_hook(hook, hook_payload(self.spec, phase, checksum, hook))
        except Exception as exc:  # noqa: BLE001 - a hook that cannot be called has failed
            return False, f"{hook.type.value} hook {hook.name}: {exc}"
        status = getattr(result, "status", None)
        detail = getattr(result, "error", "") or (f"HTTP {status}" if status is not None
                                                  else "no answer")
        return bool(result.ok), f"{hook.type.value} hook {hook.name}: {detail}"

    def hooks_pass(self, kind: HookType, phase: str, checksum: str | None) -> bool:
        """pre-rollout / rollout hooks: a failure is reported as `hook_failed` (it counts)."""
        for hook in self.spec.analysis.hooks(kind):
            ok, message = self._call(hook, phase, checksum)
            self.emit("hook" if ok else "hook_failed", message)
            if not ok:
                return False
        return True

    def gate(self, kind: HookType, phase: str, checksum: str | None) -> str | None:
        """Run the confirm-* gates of `kind`; None when all pass, else why the first said no."""
        for hook in self.spec.analysis.hooks(kind):
            ok, message = self._call(hook, phase, checksum)
            if not ok:
                return message
            self.emit("hook", message)
        return None

    def rollback_requested(self, phase: str, checksum: str | None) -> str | None:
        """The name of the first rollback hook that answers success (a manual abort)."""
        for hook in self.spec.analysis.hooks(HookType.ROLLBACK):
            ok, message = self._call(hook, phase, checksum)
            if ok:
                return hook.name
            self.emit("hook", f"{message}: no rollback requested")
        return None

    def post_rollout(self, phase: str, checksum: str | None) -> None:
        for hook in self.spec.analysis.hooks(HookType.POST_ROLLOUT):
            ok, message = self._call(hook, phase, checksum)
            self.emit("hook" if ok else "hook_failed", message)
