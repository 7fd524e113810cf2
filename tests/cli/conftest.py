"""The `rollout` fixture: start `progressive` commands; whatever they leave is stopped after."""

from __future__ import annotations

import pytest
from cli_support import Rollout

from progressive.platforms.local.platform import LocalPlatform


@pytest.fixture
def rollout(tmp_path):
    runs: list[Rollout] = []

    def start(*args: str, **options) -> Rollout:
        run = Rollout(tmp_path / f"run{len(runs)}", *args, **options)
        runs.append(run)
        return run

    yield start
    for run in runs:  # a failed test must not leave its platform behind
        run.kill()
        if run.state.exists():
            LocalPlatform(run.state).down()
