"""Fixtures for the routing tests: a real Envoy gateway and real Croc Hunter backends.

Backends are started once per session (Python start-up is the slow part); each test gets its
own state dir, gateway and router, all stopped at teardown even when the test fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from routing_support import NAMESPACE, Backend, canary_spec, start_backend

from progressive.platforms.local.envoy import EnvoyGateway
from progressive.processes import stop_all_recorded
from progressive.routing.envoy import EnvoyRouter
from progressive.routing.names import cluster_name


@pytest.fixture(scope="session")
def backends(tmp_path_factory) -> Iterator[dict[str, Backend]]:
    """Two Croc Hunter processes answering as v1 and v2."""
    state = tmp_path_factory.mktemp("routing-backends")
    try:
        yield {v: start_backend(state, v) for v in ("v1", "v2")}
    finally:
        stop_all_recorded(state)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    stop_all_recorded(tmp_path)


@pytest.fixture
def gateway(state_dir: Path) -> Iterator[EnvoyGateway]:
    gw = EnvoyGateway(state_dir)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def canary_router(gateway: EnvoyGateway, state_dir: Path, backends) -> EnvoyRouter:
    """A router whose gateway has the canary's clusters: primary -> v1, canary -> v2."""
    spec = canary_spec()
    gateway.set_clusters({
        cluster_name(NAMESPACE, spec.primary_name): [backends["v1"].endpoint],
        cluster_name(NAMESPACE, spec.canary_name): [backends["v2"].endpoint],
    })  # fmt: skip
    return EnvoyRouter(gateway, state_dir)
