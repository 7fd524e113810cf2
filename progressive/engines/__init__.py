"""Engines under test: the bundled engine (in this process) or Flagger (in a cluster).

Both implement `EngineUnderTest` (engines/base.py); the conformance suites see nothing else.
Test code may register more under names of its own (`register_engine`): the suite-power
bench's deliberately broken engines (tests/power) are judged that way, outside the product.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from progressive.errors import UserError

ENGINES = ("bundled", "flagger")
_REGISTERED: dict[str, Callable[..., object]] = {}


def register_engine(name: str, factory: Callable[..., object]) -> None:
    """Make `--engine name` build `factory(platform, work_dir, time_scale=...)`."""
    if name in ENGINES:
        raise ValueError(f"{name!r} is a product engine")
    _REGISTERED[name] = factory


def engine_names() -> tuple[str, ...]:
    return (*ENGINES, *sorted(_REGISTERED))


def make_engine(name: str, platform, work_dir: Path, *, time_scale: float = 1.0):
    if name == "bundled":
        from progressive.engines.bundled import BundledEngine

        return BundledEngine(platform, work_dir, time_scale=time_scale)
    if name == "flagger":
        from progressive.engines.flagger import FlaggerEngine

        return FlaggerEngine(platform, work_dir, time_scale=time_scale)
    if name in _REGISTERED:
        return _REGISTERED[name](platform, work_dir, time_scale=time_scale)
    raise UserError(f"unknown engine {name!r}; choose one of: {', '.join(engine_names())}")


def spec_as_run(name: str, spec, time_scale: float):
    """`spec` as engine `name` will run it at the suites' `time_scale` (its `engine.spec`)."""
    if name == "flagger":
        from progressive.engines.flagger import as_flagger_runs_it

        return as_flagger_runs_it(spec, time_scale)
    return spec.scaled(time_scale)
