"""pytest plugin: the mutants of power_mutants.py as engines `mutant:<name>`.

    PYTHONPATH=tests/power pytest -p power_plugin suites --engine mutant:double-step

Loaded only by the suite-power bench (bench/bench_power.py) and its tests.
"""

from __future__ import annotations

from power_mutants import MUTANTS, Mutant

from progressive.engines import register_engine
from progressive.engines.bundled import BundledEngine

PREFIX = "mutant:"


def engine_class(m: Mutant) -> type[BundledEngine]:
    return type(f"Mutant_{m.name.replace('-', '_')}", (BundledEngine,),
                {"name": PREFIX + m.name, "loop": m.loop, "releases": m.releases})


for _mutant in MUTANTS.values():
    register_engine(PREFIX + _mutant.name, engine_class(_mutant))
