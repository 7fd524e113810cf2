"""The exact command lines a cluster run executes, checked with recording fakes on PATH.

The fakes stand in for kind, kubectl, istioctl and docker (nothing else here may be faked):
they record their argv and answer what a real binary prints where the platform reads it
(`docker port`, `kind get clusters`). The platforms are driven up to the point where they
would talk to the API server or the gateway (`start()`), and through `down()`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from progressive.errors import UserError
from progressive.platforms.kind import commands
from progressive.platforms.kind.kubeconfig import KubeconfigPlatform, kubeconfig_plan
from progressive.platforms.kind.pins import load_pins
from progressive.platforms.kind.platform import CLUSTER_NAME, KindPlatform, kind_plan
from progressive.platforms.kind.runner import CommandFailed, Runner


def by_name(argv: list[str]) -> list[str]:
    return [Path(argv[0]).name, *argv[1:]]


@pytest.fixture
def kind_platform(fake_bins, tmp_path: Path) -> KindPlatform:
    context = tmp_path / "src"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    node = f"{CLUSTER_NAME}-control-plane"
    fake_bins.answer(f"docker port {node} 30080/tcp", "127.0.0.1:31080\n")
    fake_bins.answer(f"docker port {node} 30090/tcp", "127.0.0.1:31090\n[::1]:31090\n")
    return KindPlatform(tmp_path / "state", build_context=context)


class TestKindBringUp:
    def test_a_new_cluster_runs_the_plan_in_order(self, kind_platform, fake_bins, tmp_path):
        kind_platform.check_machine()
        kind_platform.start()
        plan = kind_plan(kind_platform.layout, bins=kind_platform.bins)
        assert fake_bins.calls() == [
            ["docker", "info", "--format", "{{.ServerVersion}}"],  # preflight
            ["kind", "get", "clusters"],  # does the cluster exist?
            ["kind", "get", "clusters"],  # pytest-kind asks again before creating it
            *[by_name(step.argv) for step in plan],
        ]
        # pytest-kind ran exactly the create command kind_create describes
        create = by_name(commands.kind_create(
            "kind", CLUSTER_NAME, kind_platform.kubeconfig, kind_platform.layout.cluster_config))
        assert fake_bins.calls()[3] == create
        assert all(Path(step.argv[0]).is_absolute() for step in plan)  # binaries from PATH

    def test_ports_come_from_docker_and_are_on_loopback(self, kind_platform, tmp_path):
        kind_platform.check_machine()
        kind_platform.start()
        assert kind_platform.gateway_url == "http://127.0.0.1:31080"
        assert kind_platform.prometheus_url == "http://127.0.0.1:31090"
        config = yaml.safe_load(kind_platform.layout.cluster_config.read_text())
        mappings = config["nodes"][0]["extraPortMappings"]
        assert {m["containerPort"] for m in mappings} == {30080, 30090}
        assert {m["listenAddress"] for m in mappings} == {"127.0.0.1"}
        assert not (tmp_path / ".pytest-kind").exists()  # pytest-kind's empty dir is removed
        timings = json.loads((kind_platform.state_dir / "timings.json").read_text())
        assert f"install Istio {load_pins().istio}" in timings and "build the Croc Hunter image" in timings

    def test_an_existing_cluster_is_reused(self, kind_platform, fake_bins):
        fake_bins.answer("kind get clusters", f"other\n{CLUSTER_NAME}\n")
        kind_platform.check_machine()
        kind_platform.start()
        calls = fake_bins.calls()
        assert calls[2] == by_name(commands.kind_export_kubeconfig(
            "kind", CLUSTER_NAME, kind_platform.kubeconfig))
        assert not any(c[:3] == ["kind", "create", "cluster"] for c in calls)
        assert not kind_platform.layout.cluster_config.exists()  # its config was used already

    def test_down_deletes_the_cluster_unless_kept(self, kind_platform, fake_bins, tmp_path):
        kind_platform.check_machine()
        kind_platform.start()
        kind_platform.down()
        assert fake_bins.calls()[-1] == by_name(
            commands.kind_delete("kind", CLUSTER_NAME, kind_platform.kubeconfig))
        kept = KindPlatform(tmp_path / "state2", keep_env=True)
        before = len(fake_bins.calls())
        kept.down()
        assert len(fake_bins.calls()) == before

    def test_a_new_version_is_tagged_and_loaded_once(self, kind_platform, fake_bins):
        kind_platform.check_machine()
        kind_platform.start()
        before = len(fake_bins.calls())
        kind_platform.ensure_image("croc-hunter:v2")
        kind_platform.ensure_image("croc-hunter:v2")
        kind_platform.ensure_image("croc-hunter:v1")  # loaded by start()
        assert fake_bins.calls()[before:] == [
            ["docker", "tag", "croc-hunter:build", "croc-hunter:v2"],
            ["kind", "load", "docker-image", "--name", CLUSTER_NAME, "croc-hunter:v2"],
        ]

    def test_a_failing_step_names_itself_keeps_diagnostics_and_cleans_up(
            self, kind_platform, fake_bins):
        fake_bins.answer("istioctl install", rc=1,
                         stderr="Error: failed to install manifests\nauth token: s3cr3t\n")
        with pytest.raises(CommandFailed) as failed:
            kind_platform.up()
        message = str(failed.value)
        assert f"install Istio {load_pins().istio}" in message and "exit code 1" in message
        assert "s3cr3t" not in message and "<redacted>" in message
        calls = fake_bins.calls()
        assert calls[-1][:3] == ["kind", "delete", "cluster"]
        assert not any(c[0] == "kubectl" and "rollout" in c for c in calls)  # stopped there
        diagnostics = kind_platform.state_dir / "diagnostics-up"
        assert (diagnostics / "commands.log").exists()
        assert "s3cr3t" not in (diagnostics / "commands.log").read_text()

    def test_no_dockerfile_stops_before_anything_runs(self, fake_bins, tmp_path):
        platform = KindPlatform(tmp_path / "state", build_context=tmp_path / "empty")
        with pytest.raises(UserError, match="Dockerfile is missing"):
            platform.up()
        assert all(c[0] == "docker" and c[1] == "info" for c in fake_bins.calls())


class TestKubeconfigPlatform:
    @pytest.fixture
    def platform(self, fake_bins, tmp_path) -> KubeconfigPlatform:
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        return KubeconfigPlatform(tmp_path / "state", kubeconfig, run_id="r123")

    def test_runs_in_a_namespace_of_its_own_and_removes_it_by_label(self, platform, fake_bins):
        platform.check_machine()
        platform.start()
        assert platform.namespace == "progressive-r123"
        plan = kubeconfig_plan(platform.kubeconfig, platform.manifests, platform.namespace,
                               platform.bins)
        assert fake_bins.calls() == [by_name(s.argv) for s in plan]  # no docker, no kind
        docs = list(yaml.safe_load_all(platform.manifests.read_text()))
        for doc in docs:
            assert doc["metadata"]["labels"]["progressive.dev/run"] == "r123"
            assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "progressive"
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "progressive-r123"
        platform.down()
        deletes = fake_bins.calls()[len(plan):]
        assert [c[:3] for c in deletes] == [["kubectl", f"--kubeconfig={platform.kubeconfig}",
                                             "delete"]] * 2
        assert all("progressive.dev/run=r123" in c for c in deletes)
        assert deletes[1][3] == "namespace"

    def test_a_missing_kubeconfig_is_a_user_error(self, fake_bins, tmp_path):
        platform = KubeconfigPlatform(tmp_path / "state", tmp_path / "nope", run_id="x")
        with pytest.raises(UserError, match="does not exist"):
            platform.up()
        assert fake_bins.calls() == []


class TestRunner:
    def test_output_goes_to_the_log_with_secrets_masked(self, tmp_path):
        runner = Runner(tmp_path / "commands.log")
        script = "print('client-key-data: QUJD'); print('fine')"
        done = runner.run([sys.executable, "-c", script], timeout=30, what="print")
        assert done.stdout.splitlines() == ["client-key-data: QUJD", "fine"]
        log = runner.log_path.read_text()
        assert "QUJD" not in log and "client-key-data: <redacted>" in log and "fine" in log

    def test_a_command_past_its_bound_is_stopped_and_named(self, tmp_path):
        runner = Runner(tmp_path / "commands.log")
        with pytest.raises(CommandFailed, match="timed out after 0.5s while trying to wait"):
            runner.run([sys.executable, "-c", "import signal; signal.pause()"], timeout=0.5,
                       what="wait")  # a command that never ends by itself
