"""Fixtures for the metrics tests: a real Prometheus and Croc Hunter processes.

Every process is started through the project's supervisor (processes.start_process) under the
test's state dir and stopped at teardown, also when the test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from metrics_support import App, start_app

from progressive.platforms.local.prometheus import PrometheusServer
from progressive.processes import stop_all_recorded


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    stop_all_recorded(tmp_path)


@pytest.fixture
def prometheus(state_dir: Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(state_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def launch_app(state_dir: Path) -> Iterator[Callable[..., App]]:
    started: list[App] = []

    def launch(name: str, *flags: str) -> App:
        app = start_app(state_dir, name, *flags)
        started.append(app)
        return app

    yield launch
    for app in started:
        app.process.stop()
