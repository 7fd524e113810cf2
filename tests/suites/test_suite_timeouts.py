"""The suites' one timeout object (progressive/testing/timeouts.py): its bounds follow the spec and the time
scale, only the named machine allowances stay put, and no suite writes a bound of its own."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from progressive.engine.bounds import run_bound
from progressive.model import load_specs
from progressive.model.types import HookType, Webhook
from progressive.model.validate import load_spec
from progressive.testing.timeouts import SuiteTimeouts

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "suites"
TESTING = REPO / "progressive" / "testing"

SEED = REPO / "fixtures" / "specs" / "seed-canary.yaml"
SCALES = (0.1, 1.0)
WAIT_KEYWORDS = {"timeout", "timeout_s", "poll", "max_poll"}


def seed_at(scale: float, *hooks: Webhook) -> SuiteTimeouts:
    spec = load_spec(SEED)
    spec = dataclasses.replace(spec, analysis=dataclasses.replace(spec.analysis, webhooks=hooks))
    return SuiteTimeouts.of(spec.scaled(scale))


def test_seed_canary_bounds_at_both_scales():
    fast, real = (seed_at(s) for s in SCALES)
    assert (fast.interval_s, real.interval_s) == pytest.approx((1.5, 15.0))  # the seed: 15s
    assert real.rollout_s == run_bound(load_spec(SEED)) == pytest.approx(360.0)
    assert fast.rollout_s == pytest.approx(36.0)
    assert fast.poll_s == pytest.approx(0.15) and real.poll_s == pytest.approx(1.5)
    assert fast.hooks_s == real.hooks_s == 0.0  # the seed calls no hooks


def test_spec_derived_bounds_move_with_the_scale():
    hook = Webhook("abort", HookType.ROLLBACK, "http://127.0.0.1:1/abort")  # default timeout, 10s
    fast, real = (seed_at(s, hook) for s in SCALES)
    ratio = SCALES[1] / SCALES[0]
    for name in ("interval_s", "rollout_s", "hooks_s", "poll_s"):
        assert getattr(real, name) == pytest.approx(ratio * getattr(fast, name)), name
    assert (fast.hooks_s, real.hooks_s) == pytest.approx((1.0, 10.0))


def test_machine_allowances_do_not_move_with_the_scale():
    fast, real = (seed_at(s) for s in SCALES)
    assert fast.machine_s == real.machine_s == SuiteTimeouts.machine_s
    assert fast.route_update_s == real.route_update_s == SuiteTimeouts.route_update_s
    assert fast.held_s == real.held_s == 2 * fast.route_update_s
    # n requests at the load's rate, plus the allowance: the load, not the spec, paces them
    assert fast.requests_s(150, 150.0) == real.requests_s(150, 150.0) == 1.0 + fast.machine_s
    assert fast.requests_s(300, 150.0) - fast.requests_s(150, 150.0) == pytest.approx(1.0)


def test_shipper_release_bounds_move_with_the_scale():
    (app,) = load_specs(REPO / "fixtures" / "specs" / "application-shipper.yaml")
    fast, real = (SuiteTimeouts.of_release(app, s) for s in SCALES)
    assert real.interval_s == app.interval_s and fast.interval_s == pytest.approx(app.interval_s / 10)
    assert real.rollout_s == pytest.approx(len(app.steps) * app.interval_s)
    assert fast.rollout_s == pytest.approx(real.rollout_s / 10)
    assert fast.machine_s == real.machine_s and fast.hooks_s == real.hooks_s == 0.0


def literal_wait_bounds(path: Path) -> list[str]:
    """Wait keywords (timeout=, timeout_s=, poll=, ...) given a number, or arithmetic on one;
    a call such as `t.requests_s(10, rps)` is a derivation and is not looked into."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg in WAIT_KEYWORDS and _has_number(kw.value):
                found.append(f"{path.relative_to(REPO)}:{kw.value.lineno}: "
                             f"{kw.arg}={ast.unparse(kw.value)}")
    return found


def _has_number(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.Call):
        return False
    return any(_has_number(child) for child in ast.iter_child_nodes(node))


def test_no_suite_writes_a_wait_bound_of_its_own():
    modules = [*SUITES.glob("*.py"), *TESTING.glob("*.py")]
    found = [hit for path in sorted(modules) if path.name != "timeouts.py"
             for hit in literal_wait_bounds(path)]
    assert not found, "bounds belong in progressive/testing/timeouts.py:\n" + "\n".join(found)
