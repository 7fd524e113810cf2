"""The checked-in kind fixtures and the manifests the platform renders, checked offline.

No schema validator is installed, so `check_builtin` checks the fields we set on the built-in
kinds: apiVersion, kind, metadata.name and labels, a Deployment's selector matching its pod
labels, probes on /healthz:8080, the container port, and the Service's 80 -> 8080.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import yaml

from progressive.platforms.kind import manifests as m
from progressive.platforms.kind.pins import (
    CLUSTER_CONFIG,
    CROC_HUNTER_MANIFESTS,
    GATEWAY_NODE_PORT,
    ISTIO_OPERATOR,
    KIND_FIXTURES,
    PROMETHEUS_CONFIG,
    PROMETHEUS_NODE_PORT,
    VERSIONS_FILE,
    load_pins,
)
from progressive.processes import LOOPBACK
from progressive.workloads.kubernetes import CONTAINER_PORT, SERVICE_PORT

REPO_ROOT = Path(__file__).resolve().parents[2]
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "kind-conformance.yml"


def check_builtin(doc: dict) -> None:
    """Our own check of the fields we set on Namespace, Deployment and Service documents."""
    assert doc["apiVersion"] == {"Namespace": "v1", "Service": "v1",
                                 "Deployment": "apps/v1"}[doc["kind"]]
    meta = doc["metadata"]
    assert DNS_LABEL.fullmatch(meta["name"]) and len(meta["name"]) <= 63
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "progressive"
    if doc["kind"] == "Namespace":
        assert meta["labels"]["istio-injection"] == "enabled"
        return
    assert DNS_LABEL.fullmatch(meta["namespace"])
    spec = doc["spec"]
    if doc["kind"] == "Deployment":
        pod_labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
        (container,) = spec["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": CONTAINER_PORT}]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": CONTAINER_PORT}
        tag = container["image"].rsplit(":", 1)[1]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["CROC_VERSION"] == tag and isinstance(env["CROC_ERROR_RATE"], str)
    if doc["kind"] == "Service":
        assert spec["ports"] == [{"name": "http", "port": SERVICE_PORT,
                                  "targetPort": CONTAINER_PORT, "protocol": "TCP"}]


class TestCrocHunterBundle:
    def test_the_checked_in_fixture_is_what_the_platform_applies(self):
        on_disk = list(yaml.safe_load_all(CROC_HUNTER_MANIFESTS.read_text()))
        assert on_disk == m.render_croc_hunter()

    def test_built_in_kinds_carry_the_fields_we_set(self):
        docs = m.render_croc_hunter()
        assert [d["kind"] for d in docs] == ["Namespace", "Deployment", "Service", "Gateway",
                                             "VirtualService"]
        for doc in docs[:3]:
            check_builtin(doc)
        deployment, service = docs[1], docs[2]
        assert deployment["spec"]["replicas"] == 3
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()

    def test_the_gateway_route_reaches_the_service(self):
        _, _, service, gateway, vs = m.render_croc_hunter()
        assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
        assert gateway["spec"]["servers"][0]["port"]["number"] == 80
        ref = f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}"
        assert ref in vs["spec"]["gateways"] and m.APP_HOST in vs["spec"]["hosts"]
        (route,) = vs["spec"]["http"]
        assert route["route"] == [{"destination": {"host": service["metadata"]["name"]},
                                   "weight": 100}]

    def test_another_namespace_moves_everything_but_keeps_the_shape(self):
        docs = m.render_croc_hunter("progressive-abc", labels={"progressive.dev/run": "abc"},
                                    gateway_namespace="progressive-abc")
        assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in docs} == {
            "progressive-abc"}
        assert all(d["metadata"]["labels"]["progressive.dev/run"] == "abc" for d in docs)
        assert docs[-1]["spec"]["gateways"][0] == "progressive-abc/public-gateway"


class TestKindClusterConfig:
    def test_publishes_the_gateway_and_prometheus_on_loopback(self):
        config = yaml.safe_load(CLUSTER_CONFIG.read_text())
        assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
        (node,) = config["nodes"]
        assert node["role"] == "control-plane" and node["image"] == load_pins().node_image
        ports = {p["containerPort"]: p for p in node["extraPortMappings"]}
        assert set(ports) == {GATEWAY_NODE_PORT, PROMETHEUS_NODE_PORT}
        for mapping in ports.values():
            assert mapping["listenAddress"] == LOOPBACK and mapping["protocol"] == "TCP"
            assert 1024 < mapping["hostPort"] < 65536

    def test_the_node_ports_match_the_services_that_use_them(self):
        operator = yaml.safe_load(ISTIO_OPERATOR.read_text())
        (gateway,) = operator["spec"]["components"]["ingressGateways"]
        ports = {p["name"]: p for p in gateway["k8s"]["service"]["ports"]}
        assert gateway["k8s"]["service"]["type"] == "NodePort"
        assert ports["http2"]["nodePort"] == GATEWAY_NODE_PORT and ports["http2"]["port"] == 80
        assert operator["spec"]["profile"] == "demo"

    def test_a_taken_host_port_is_replaced_by_a_free_one(self):
        config = yaml.safe_load(CLUSTER_CONFIG.read_text())
        with socket.socket() as taken:
            taken.bind((LOOPBACK, 0))
            taken.listen()
            busy = taken.getsockname()[1]
            config["nodes"][0]["extraPortMappings"][0]["hostPort"] = busy
            gateway = m.host_port_mappings(m.with_free_host_ports(config))[0]
            assert gateway["hostPort"] != busy and m.port_is_free(gateway["hostPort"])
            assert gateway["listenAddress"] == LOOPBACK
            kept = m.with_free_host_ports(config, is_free=lambda port: port != busy)
            assert m.host_port_mappings(kept)[1] == m.host_port_mappings(config)[1]
        assert config["nodes"][0]["extraPortMappings"][0]["hostPort"] == busy  # input unchanged


class TestPins:
    def test_versions_are_the_ones_the_issue_asks_for(self):
        p = load_pins()
        assert tuple(int(x) for x in p.kind.lstrip("v").split(".")) >= (0, 24, 0)
        assert re.fullmatch(r"1\.\d+\.\d+", p.istio)
        assert re.fullmatch(r"1\.44\.\d+", p.flagger)
        assert p.flagger_kustomize == f"github.com/fluxcd/flagger//kustomize/istio?ref=v{p.flagger}"
        assert p.prometheus_addon == (
            f"https://raw.githubusercontent.com/istio/istio/{p.istio}/samples/addons/prometheus.yaml")
        node_minor = re.search(r":v(\d+\.\d+)\.", p.node_image).group(1)
        assert p.kubectl_minor == f"v{node_minor}" and "@sha256:" in p.node_image

    def test_one_versions_file_for_every_platform(self):
        assert VERSIONS_FILE == REPO_ROOT / "fixtures" / "versions.yaml"
        assert not (KIND_FIXTURES / "versions.yaml").exists()
        data = yaml.safe_load(VERSIONS_FILE.read_text())
        assert {"kubernetes", "etcd", "flagger", "istioApi"} <= data.keys()  # what k8s-local reads
        assert set(data["kind"]) == {"kind", "nodeImage", "kubectl", "prometheusAddon",
                                     "flaggerKustomize"}
        p = load_pins()
        # One Istio and one Flagger for both platforms, each written once: the kind pins take
        # them from the top-level keys and repeat neither.
        assert (p.istio, p.flagger) == (str(data["istioApi"]), str(data["flagger"]))
        assert not any(version in str(value) for value in data["kind"].values()
                       for version in (p.istio, p.flagger))

    def test_a_bump_of_the_shared_releases_moves_the_kind_pins(self, tmp_path):
        data = yaml.safe_load(VERSIONS_FILE.read_text())
        data.update(istioApi="1.99.1", flagger="1.50.2")
        bumped = tmp_path / "versions.yaml"
        bumped.write_text(yaml.safe_dump(data))
        p = load_pins(bumped)
        assert (p.istio, p.flagger) == ("1.99.1", "1.50.2")
        assert "/istio/1.99.1/samples/addons/" in p.prometheus_addon
        assert p.flagger_kustomize.endswith("//kustomize/istio?ref=v1.50.2")
        assert (p.kind, p.node_image, p.kubectl) == (load_pins().kind, load_pins().node_image,
                                                     load_pins().kubectl)

    def test_the_docs_name_the_pinned_versions(self):
        p = load_pins()
        docs = (REPO_ROOT / "docs" / "kind.md").read_text()
        tag = p.node_image.split("@")[0]
        for pinned in (f"`kind` on PATH | {p.kind} ", f"`{tag}`", f"| {p.kubectl_minor}.x ",
                       f"`istioctl` on PATH | {p.istio} ", f"Flagger {p.flagger} ",
                       p.flagger_kustomize):
            assert pinned in docs, pinned

    def test_the_prometheus_configuration_scrapes_istio_every_second(self):
        cm = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == (
            "ConfigMap", "prometheus", "istio-system")
        config = yaml.safe_load(cm["data"]["prometheus.yml"])
        assert config["global"]["scrape_interval"] == "1s"
        (job,) = config["scrape_configs"]
        keep = job["relabel_configs"][0]
        assert keep["action"] == "keep" and "prometheus_io_scrape" in keep["source_labels"][0]

    def test_every_fixture_is_valid_yaml(self):
        for path in sorted(KIND_FIXTURES.glob("*.yaml")):
            assert list(yaml.safe_load_all(path.read_text())), path


class TestWorkflow:
    @pytest.fixture(scope="class")
    def workflow(self) -> dict:
        return yaml.safe_load(WORKFLOW.read_text())

    def test_runs_nightly_and_on_demand(self, workflow):
        triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
        assert set(triggers) == {"schedule", "workflow_dispatch"}
        assert triggers["schedule"][0]["cron"]

    def test_installs_the_pinned_tools_and_runs_the_kind_conformance(self, workflow):
        (job,) = workflow["jobs"].values()
        p = load_pins()
        assert job["runs-on"] == "ubuntu-latest"
        assert job["env"] == {"KIND_VERSION": p.kind, "KUBECTL_VERSION": p.kubectl,
                              "ISTIO_VERSION": p.istio}
        assert job["strategy"]["matrix"]["engine"] == ["bundled", "flagger"]
        assert job["strategy"]["fail-fast"] is False
        steps = job["steps"]
        python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
        assert python["with"]["python-version"] == "3.11"
        runs = [s.get("run", "") for s in steps]
        assert any(".venv/bin/pip install" in r and "-e '.[dev]'" in r for r in runs)
        assert (".venv/bin/progressive conformance --platform kind --engine ${{ matrix.engine }} "
                "--report-dir reports/out" in runs)
        assert any("kind-linux-amd64" in r and "downloadIstio" in r for r in runs)
        upload = steps[-1]
        assert upload["uses"].startswith("actions/upload-artifact")
        assert upload["with"]["path"] == "reports/out" and upload["if"] == "always()"
        assert upload["with"]["name"] == "kind-conformance-reports-${{ matrix.engine }}"
