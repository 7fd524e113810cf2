"""A freshly started local platform: when its metrics flow.

Prometheus hands its scrape targets to its scrapers only after TARGET_UPDATE_S (5 s), so for
the first seconds of a platform every query is "no data". `wait_for_metrics()` is what
`progressive rollout` and the pytest plugin call before an analysis starts.
"""

from __future__ import annotations

import time

import pytest

from progressive.platforms.local.platform import LocalPlatform

pytestmark = pytest.mark.integration


def test_wait_for_metrics_returns_once_the_gateway_is_scraped(tmp_path):
    platform = LocalPlatform(tmp_path / "state")
    platform.up()
    try:
        started = time.monotonic()
        platform.wait_for_metrics()
        print(f"waited {time.monotonic() - started:.1f}s for the first scrape")  # about 5.5 s
        # The gateway's own statistics are in Prometheus now, not just its `up` series.
        assert platform.metrics().run_query('sum(envoy_server_live{job="envoy"})') == 1
    finally:
        platform.down()
