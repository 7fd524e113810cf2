"""Engines under test: the bundled engine (in this process) or Flagger (in a cluster).

Both implement `EngineUnderTest` (engines/base.py); the conformance suites see nothing else.
"""

from __future__ import annotations

from pathlib import Path

from progressive.errors import UserError

ENGINES = ("bundled", "flagger")


def make_engine(name: str, platform, work_dir: Path, *, time_scale: float = 1.0):
    if name == "bundled":
        from progressive.engines.bundled import BundledEngine

        return BundledEngine(platform, work_dir, time_scale=time_scale)
    if name == "flagger":
        from progressive.engines.flagger import FlaggerEngine

        return FlaggerEngine(platform, work_dir, time_scale=time_scale)
    raise UserError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


def spec_as_run(name: str, spec, time_scale: float):
    """`spec` as engine `name` will run it at the suites' `time_scale` (its `engine.spec`)."""
    if name == "flagger":
        from progressive.engines.flagger import as_flagger_runs_it

        return as_flagger_runs_it(spec, time_scale)
    return spec.scaled(time_scale)
