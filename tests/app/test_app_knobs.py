"""Croc Hunter's knobs from flags and environment, and the app built in-process from Knobs."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from progressive.app import KnobError, Knobs, build_app, parse_knobs


def test_defaults():
    k = parse_knobs([], env={})
    assert (k.version, k.commit, k.host, k.port, k.error_rate, k.crash_after) == (
        "v1", "unknown", "127.0.0.1", 8080, 0.0, 0)
    assert k.never_ready is False and k.seed is None and k.port_file is None


def test_flag_wins_over_environment():
    env = {"CROC_VERSION": "v9", "CROC_ERROR_RATE": "0.9", "CROC_NEVER_READY": "1",
           "GIT_SHA": "env-sha"}
    k = parse_knobs(["--version", "v2", "--error-rate", "0.1", "--no-never-ready",
                     "--commit", "flag-sha"], env=env)
    assert (k.version, k.error_rate, k.never_ready, k.commit) == ("v2", 0.1, False, "flag-sha")


def test_environment_is_read_when_no_flag():
    env = {"WORKFLOW_RELEASE": "r1", "GIT_SHA": "abc", "POWERED_BY": "crocs",
           "CROC_ERROR_RATE": "0.05", "CROC_LATENCY_MS": "12.5", "CROC_CRASH_AFTER": "7",
           "CROC_NEVER_READY": "yes"}
    k = parse_knobs([], env=env)
    assert (k.version, k.commit, k.powered_by) == ("r1", "abc", "crocs")
    assert (k.error_rate, k.latency_ms, k.crash_after, k.never_ready) == (0.05, 12.5, 7, True)


def test_croc_version_wins_over_workflow_release():
    assert parse_knobs([], env={"CROC_VERSION": "a", "WORKFLOW_RELEASE": "b"}).version == "a"


@pytest.mark.parametrize("kwargs", [
    {"error_rate": 1.01}, {"error_rate": -0.01}, {"error_rate": float("nan")},
    {"latency_ms": -1}, {"latency_ms": float("inf")}, {"crash_after": -3}, {"port": 65536},
    {"version": ""}, {"version": "v1\r\nX-Evil: 1"},
])
def test_knobs_refuse_values_the_app_cannot_run_with(kwargs):
    with pytest.raises(KnobError):
        Knobs(**kwargs)


def test_build_app_serves_in_process_and_calls_on_crash_after_n():
    crashes: list[int] = []
    knobs = Knobs(version="v6", crash_after=2)

    async def scenario() -> list[tuple[int, str]]:
        app = build_app(knobs, hostname="test-host", on_crash=lambda: crashes.append(1))
        seen = []
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for path in ("/", "/healthz", "/", "/version"):
                r = await client.get(path)
                seen.append((r.status, r.headers["X-Version"]))
            body = await (await client.get("/version")).json()
        assert body["hostname"] == "test-host"
        return seen

    assert asyncio.run(scenario()) == [(200, "v6")] * 4
    assert crashes == [1]


def test_argv_gives_the_same_knobs_back():
    k = Knobs(version="v2", commit="abc", powered_by="x y", error_rate=0.05, latency_ms=12.5,
              crash_after=9, never_ready=True, port=0, port_file="/tmp/p", seed=3)
    assert parse_knobs(k.argv(), env={"CROC_VERSION": "ignored"}) == k
    assert parse_knobs(Knobs().argv(), env={"CROC_NEVER_READY": "1"}) == Knobs()
