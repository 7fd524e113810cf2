"""The rollout fixtures: a team's own `rollout`, and the two the conformance suites use.

Loaded with the `progressive` pytest plugin (its entry point), so a test in any repository
asks for them by name. `--platform`, `--engine` and `--time-scale` choose what they run on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from progressive.model.types import CanarySpec
from progressive.model.validate import load_spec as load_spec_file
from progressive.testing.rollouts import LOAD_RPS, Observation, engine_session, observe_rollout
from progressive.workloads.base import AppVersion

RolloutRun = Callable[..., Observation]


def _rollouts(platform, config: pytest.Config, time_scale: float, work_dirs: Iterator[Path]):
    """(run, stack): `run(spec, initial, new, ...)` observes one rollout with a fresh engine;
    closing the stack stops the engines and removes their routes and workloads."""
    stack = ExitStack()

    def run(spec: CanarySpec, initial: AppVersion, new: AppVersion, **options) -> Observation:
        engine = stack.enter_context(engine_session(
            platform, config.getoption("--engine"), next(work_dirs), time_scale))
        return observe_rollout(platform, engine, spec, initial, new, **options)

    return run, stack


def _as_release(version: str | AppVersion) -> AppVersion:
    """"v2" or AppVersion("v3", error_rate=0.05): what the workload runs."""
    return version if isinstance(version, AppVersion) else AppVersion(str(version))


def canary_spec(spec: str | Path | CanarySpec, here: Path) -> CanarySpec:
    """A Canary from a spec object or a file (relative: to the test's directory, then the
    working directory). Invalid specs fail with their field paths (InvalidSpec)."""
    if isinstance(spec, CanarySpec):
        return spec
    path = Path(spec)
    if not path.is_absolute():
        path = next((p for p in (here / path, Path.cwd() / path) if p.exists()), here / path)
    if not path.is_file():
        raise FileNotFoundError(f"Canary spec {spec} not found (looked in {here} and "
                                f"{Path.cwd()})")
    canary = load_spec_file(path, CanarySpec)
    assert isinstance(canary, CanarySpec)  # load_spec_file(path, CanarySpec) returns one
    return canary


@pytest.fixture
def rollout(platform, pytestconfig: pytest.Config, time_scale: float,
            request: pytest.FixtureRequest, namespace: str, tmp_path: Path):
    """`rollout(spec, to, *, start="v1", rps=150) -> Observation`: roll a Canary out under load.

    `spec` is a Canary file (or a CanarySpec); it runs at `start`, then `to` is deployed while
    Locust sends `rps` requests per second through the gateway, and the call returns when the
    engine reports the rollout Succeeded or Failed. Each call starts afresh (the previous
    call's engine, routes and workloads are removed first). The spec moves into the test's own namespace
    so that no two tests share routes or metrics. Every wait is bounded by the spec's own
    timing (progressive.testing.SuiteTimeouts).

        def test_promotes_clean(rollout):
            obs = rollout("canary.yaml", to="v2")
            assert_promoted(obs)
    """
    here = request.path.parent
    dirs = (tmp_path / f"engine-{i}" for i in range(100))
    current = ExitStack()

    def roll(spec: str | Path | CanarySpec, to: str | AppVersion, *,
             start: str | AppVersion = "v1", rps: float = LOAD_RPS) -> Observation:
        nonlocal current
        current.close()  # a second call starts afresh: the first engine and its workloads go
        run, current = _rollouts(platform, pytestconfig, time_scale, dirs)
        canary = dataclasses.replace(canary_spec(spec, here), namespace=namespace)
        return run(canary, _as_release(start), _as_release(to), rps=rps)

    try:
        yield roll
    finally:
        current.close()


@pytest.fixture
def rollout_under_load(platform, pytestconfig: pytest.Config, time_scale: float, tmp_path: Path):
    """`run(spec, initial, new, ...)`: one rollout under load per call, judged by this test."""
    run, stack = _rollouts(platform, pytestconfig, time_scale, (tmp_path / f"engine-{i}" for i in range(100)))
    with stack:
        yield run


@pytest.fixture(scope="module")
def module_rollout(platform, pytestconfig: pytest.Config, time_scale: float,
                   tmp_path_factory: pytest.TempPathFactory):
    """Like rollout_under_load, for a rollout several tests of a module judge (the run is the
    slow part)."""
    dirs = (tmp_path_factory.mktemp("engine") for _ in range(100))
    run, stack = _rollouts(platform, pytestconfig, time_scale, dirs)
    with stack:
        yield run
