"""The Envoy router on a real gateway: weights on the wire, live read-back, changes under load,
refusals, A/B header routes, mirroring, restart, and VirtualServices side by side.

Statistical checks are exact binomial acceptance intervals with false-alarm probability
ALPHA = 1e-4 each (conftest.assert_share); sample sizes are stated in each test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from routing_support import (
    HTTP_TIMEOUT_S,
    NAMESPACE,
    Hammer,
    assert_share,
    blast,
    canary_spec,
    header_match,
)

from progressive.errors import InvalidSpec
from progressive.model.types import Destination, HttpRoute, MatchKind, VirtualServiceSpec
from progressive.platforms.local.envoy import EnvoyGateway
from progressive.routing.base import RouterError, Routes
from progressive.routing.envoy import EnvoyRouter
from progressive.waiting import wait_until

pytestmark = pytest.mark.integration

SPLIT_N = 2_000  # per weight: the 1e-4 acceptance region for 10% is about +/-2.7 points


@pytest.mark.parametrize(("primary", "canary"), [(90, 10), (50, 50)])
def test_weights_are_observed_on_the_wire(
    canary_router: EnvoyRouter, primary, canary, record_property
):
    spec = canary_spec()
    canary_router.set_routes(spec, primary, canary)
    assert canary_router.get_routes(spec) == Routes(primary, canary)
    tally = blast(canary_router.gateway.listener_url + "/healthz", SPLIT_N, concurrency=8)
    line = assert_share(tally, "v2", canary)
    record_property("split", line)
    print(line)


def test_get_routes_reads_the_live_weights_not_the_state_file(
    canary_router: EnvoyRouter, state_dir: Path
):
    spec = canary_spec()
    canary_router.set_routes(spec, 90, 10)
    # Another process (a CLI command) attaches to the same gateway and changes the weights.
    script = (
        "import sys; from pathlib import Path\n"
        "from progressive.platforms.local.envoy import EnvoyGateway\n"
        "from progressive.routing.envoy import EnvoyRouter\n"
        "from progressive.model.types import Analysis, CanarySpec\n"
        "d = Path(sys.argv[1])\n"
        f"spec = CanarySpec(name='croc-hunter', namespace='{NAMESPACE}', target='croc-hunter', "
        "analysis=Analysis())\n"
        "EnvoyRouter(EnvoyGateway.attach(d), d).set_routes(spec, 40, 60)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(state_dir)], check=True, timeout=60)
    assert canary_router.get_routes(spec) == Routes(40, 60)
    # Desired state that never reached Envoy does not show up in get_routes.
    state = json.loads((state_dir / "routes.json").read_text())
    state["virtual_hosts"][f"{NAMESPACE}/croc-hunter"]["weights"]["canary"] = 99
    (state_dir / "routes.json").write_text(json.dumps(state))
    assert canary_router.get_routes(spec) == Routes(40, 60)


def test_weight_changes_under_load_fail_no_request(canary_router: EnvoyRouter, record_property):
    """Flip 100/0 <-> 0/100 ten times under load; every request sent after set_routes returned
    must reach the new side, and none may fail."""
    spec = canary_spec()
    canary_router.set_routes(spec, 100, 0)
    confirm_s, first_s, stale = [], [], 0
    with Hammer(canary_router.gateway.listener_url + "/healthz") as hammer:
        wait_until(lambda: len(hammer.samples) > 50, timeout=10, what="load to start")
        for i in range(10):
            target, weights = ("v2", (0, 100)) if i % 2 == 0 else ("v1", (100, 0))
            started = time.monotonic()
            canary_router.set_routes(spec, *weights)
            returned = time.monotonic()
            confirm_s.append(returned - started)
            wait_until(lambda r=returned: sum(s.started > r for s in hammer.samples) >= 30,
                       timeout=10, what="requests on the new weights")  # fmt: skip
            after = [s for s in list(hammer.samples) if s.started >= started and s.version]
            first_s.append(next(s.started for s in after if s.version == target) - started)
            stale += sum(1 for s in after if s.started > returned and s.version != target)
    total = len(hammer.samples)
    figures = (
        f"{total} requests, confirmation max {max(confirm_s) * 1000:.1f} ms "
        f"(median {sorted(confirm_s)[5] * 1000:.1f}), first request on new weights "
        f"max {max(first_s) * 1000:.1f} ms after the call"
    )
    record_property("flips", figures)
    print(figures)
    assert hammer.failures() == [], hammer.failures()[:5]
    assert stale == 0, f"{stale} requests sent after set_routes returned reached the old side"


def test_zero_total_is_refused_and_the_old_route_stays(canary_router: EnvoyRouter, state_dir: Path):
    spec = canary_spec()
    canary_router.set_routes(spec, 90, 10)
    before = (state_dir / "routes.json").read_text()
    for bad in ((0, 0), (-1, 101)):
        with pytest.raises(RouterError):
            canary_router.set_routes(spec, *bad)
    assert canary_router.get_routes(spec) == Routes(90, 10)
    assert (state_dir / "routes.json").read_text() == before


def test_reconcile_starts_at_100_0_and_keeps_existing_weights(canary_router: EnvoyRouter):
    spec = canary_spec()
    canary_router.reconcile(spec)
    assert canary_router.get_routes(spec) == Routes(100, 0)
    canary_router.set_routes(spec, 70, 30, mirrored=False)
    canary_router.reconcile(spec)
    assert canary_router.get_routes(spec) == Routes(70, 30)


def test_finalize_removes_the_route(canary_router: EnvoyRouter):
    spec = canary_spec()
    canary_router.reconcile(spec)
    canary_router.finalize(spec)
    with pytest.raises(RouterError, match="no route"):
        canary_router.get_routes(spec)
    assert (
        requests.get(canary_router.gateway.listener_url, timeout=HTTP_TIMEOUT_S).status_code == 404
    )


def test_header_match_sends_matching_requests_to_the_canary(canary_router: EnvoyRouter):
    """A/B: 200 requests each way; with weights 0/100 the split is deterministic."""
    spec = canary_spec(match=(
        header_match("x-canary", "insider"),
        header_match("cookie", r"^(.*?;)?(canary=always)(;.*)?$", MatchKind.REGEX),
    ))  # fmt: skip
    canary_router.set_routes(spec, 0, 100)
    assert canary_router.get_routes(spec) == Routes(0, 100)
    url = canary_router.gateway.listener_url + "/healthz"
    assert blast(url, 200, headers={"x-canary": "insider"}).versions == {"v2": 200}
    assert blast(url, 200, headers={"cookie": "canary=always; a=b"}).versions == {"v2": 200}
    assert blast(url, 200, headers={"x-canary": "insider-not"}).versions == {"v1": 200}
    assert blast(url, 200).versions == {"v1": 200}


def test_mirroring_copies_every_request_to_the_canary(canary_router: EnvoyRouter, backends):
    spec = canary_spec()  # mirror weight 100 (the default)
    canary_router.set_routes(spec, 100, 0, mirrored=True)
    assert canary_router.get_routes(spec) == Routes(100, 0, mirrored=True)
    canary_app = backends["v2"]
    before = canary_app.request_count("/delay")
    tally = blast(canary_router.gateway.listener_url + "/delay?wait=0", 200, concurrency=4)
    assert tally.versions == {"v1": 200}  # answers come from the primary only
    wait_until(lambda: canary_app.request_count("/delay") - before >= 200, timeout=10,
               what="200 mirrored requests at the canary")  # fmt: skip
    canary_router.set_routes(spec, 100, 0)
    assert canary_router.get_routes(spec) == Routes(100, 0, mirrored=False)


def test_restart_of_the_gateway_keeps_the_routes(canary_router: EnvoyRouter):
    spec = canary_spec()
    canary_router.set_routes(spec, 0, 100)
    gateway = canary_router.gateway
    os.kill(gateway.pid, signal.SIGKILL)
    wait_until(lambda: not gateway.alive(), timeout=10, what="Envoy to die")
    gateway.restart()
    assert canary_router.get_routes(spec) == Routes(0, 100)
    assert blast(gateway.listener_url + "/healthz", 100).versions == {"v2": 100}


# -- VirtualServices next to canaries --------------------------------------------------------


def _vs(name: str, hosts: tuple[str, ...], workload: str) -> VirtualServiceSpec:
    route = HttpRoute(route=(Destination(host=workload, weight=100, weight_given=False),))
    return VirtualServiceSpec(name=name, namespace=NAMESPACE, hosts=hosts, http=(route,))


def test_latest_applied_virtual_host_gets_the_catch_all_and_shared_hosts(
    canary_router: EnvoyRouter,
):
    gw = canary_router.gateway
    canary_router.reconcile(canary_spec(hosts=("app.example.com",)))  # -> primary (v1)
    canary_router.apply_virtual_service(_vs("preview", ("app.example.com", "preview.example.com"),
                                            "croc-hunter-canary"))  # -> v2  # fmt: skip

    def version(host: str | None) -> str:
        headers = {"Host": host} if host else {}
        return requests.get(gw.listener_url, headers=headers, timeout=HTTP_TIMEOUT_S).headers[
            "X-Version"
        ]

    assert version(None) == "v2"  # the bare gateway URL: the latest applied
    assert version("app.example.com:8080") == "v2"  # contested: the latest applied
    assert version("croc-hunter") == "v1"  # the canary's own name stays its own
    canary_router.remove(NAMESPACE, "preview")
    assert version(None) == version("app.example.com") == "v1"
    assert sorted(canary_router.virtual_hosts()) == [  # the canary and each side's own address
        f"{NAMESPACE}/croc-hunter", f"{NAMESPACE}/croc-hunter-canary",
        f"{NAMESPACE}/croc-hunter-primary"]


def test_header_route_virtual_service_fixture(gateway: EnvoyGateway, state_dir: Path, backends):
    from progressive.model.validate import load_spec

    fixture = (
        Path(__file__).resolve().parents[2] / "fixtures/specs/virtualservice-header-route.yaml"
    )
    vs = load_spec(fixture, VirtualServiceSpec)
    router = EnvoyRouter(gateway, state_dir)
    from progressive.routing.virtualservice import clusters_for

    production, preview = sorted(clusters_for(vs), key=lambda c: "pr-35" in c)
    gateway.set_clusters(
        {production: [backends["v1"].endpoint], preview: [backends["v2"].endpoint]}
    )
    router.apply_virtual_service(vs)
    url = gateway.listener_url + "/healthz"
    host = {"Host": "croc-hunter.istio.example.com"}
    assert blast(url, 100, headers={**host, "x-preview": "pr-35"}).versions == {"v2": 100}
    assert blast(url, 100, headers=host).versions == {"v1": 100}


def test_refused_virtual_service_changes_nothing(canary_router: EnvoyRouter):
    spec = canary_spec()
    canary_router.set_routes(spec, 90, 10)
    before = canary_router.render()
    bad = VirtualServiceSpec(name="bad", namespace=NAMESPACE, hosts=("x",), http=(
        HttpRoute(route=(Destination("a", 0), Destination("b", 0))),))  # fmt: skip
    with pytest.raises(InvalidSpec, match=r"spec.http\[0\].route: weights sum to 0"):
        canary_router.apply_virtual_service(bad)
    assert canary_router.render() == before
    assert canary_router.get_routes(spec) == Routes(90, 10)


def test_each_side_answers_on_its_own_service_address(canary_router: EnvoyRouter):
    """Like a Kubernetes Service: `NAME-canary.NAMESPACE` reaches the canary whatever the split."""
    spec = canary_spec()
    canary_router.set_routes(spec, 100, 0)

    def version(host: str) -> str:
        return requests.get(canary_router.gateway.listener_url, headers={"Host": host},
                            timeout=HTTP_TIMEOUT_S).headers["X-Version"]

    assert version(f"croc-hunter-canary.{NAMESPACE}") == "v2"
    assert version(f"croc-hunter-canary.{NAMESPACE}.svc.cluster.local:80") == "v2"
    assert version(f"croc-hunter-primary.{NAMESPACE}") == "v1"
    canary_router.finalize(spec)
    assert canary_router.virtual_hosts() == []
