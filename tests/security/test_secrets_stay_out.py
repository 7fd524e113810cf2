"""Reports and logs never contain tokens or kubeconfig contents.

Secrets are planted where a user has them: a token in the environment (PROGRESSIVE_TOKEN,
GITHUB_TOKEN), a kubeconfig with a bearer token named by KUBECONFIG, a token in a webhook's
metadata (sent to the hook, which is its purpose) and credentials in a webhook's URL. Then the
harness runs as a user runs it - a rollout with `progressive rollout` (state dir, engine
state, event log, every process's log), a conformance test under pytest (JUnit XML, Allure
results, conformance report) and `progressive render` - and every byte it wrote, plus its
output, is searched for each secret.

Expected: no secret anywhere, except the webhooks (metadata and URL) inside the rendered
Flagger Canary: the manifest Flagger needs, not a report or a log. Credentials in a webhook
URL are the user's to avoid, but a report must not repeat them either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from progressive.engine.bounds import run_bound
from progressive.model.validate import load_spec
from progressive.platforms.local.platform import LocalPlatform
from progressive.processes import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "fixtures" / "specs" / "seed-canary.yaml"
START_ALLOWANCE_S = 90.0  # interpreter, platform and Locust start-up, on a loaded machine
SECRETS = {name: f"{name}-{uuid.uuid4().hex}" for name in
           ("env-token", "github-token", "kubeconfig-token", "metadata-token", "url-password",
            "url-token")}
NOT_IN_URL = {k: v for k, v in SECRETS.items() if not k.startswith("url-")}


class HookReceiver:
    """Answers 200 to every POST on 127.0.0.1 and keeps the bodies."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(env with the secrets, spec file with hooks carrying them, the hook receiver)."""
    tmp = tmp_path_factory.mktemp("secrets")
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": {"token": SECRETS["kubeconfig-token"]}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}]}))
    env = {**os.environ, "PROGRESSIVE_TOKEN": SECRETS["env-token"],
           "GITHUB_TOKEN": SECRETS["github-token"], "KUBECONFIG": str(kubeconfig)}
    receiver = HookReceiver()
    doc = yaml.safe_load(SEED.read_text())
    doc["spec"]["canaryAnalysis"]["webhooks"] = [
        {"name": "smoke", "type": "rollout", "url": receiver.url("/smoke"), "timeout": "5s",
         "metadata": {"token": SECRETS["metadata-token"]}},
        {"name": "notify", "type": "post-rollout", "timeout": "1s",  # refused: its error is logged
         "url": f"http://ci:{SECRETS['url-password']}@127.0.0.1:{free_port()}/done"
                f"?token={SECRETS['url-token']}"},
    ]
    spec = tmp / "canary-with-hooks.yaml"
    spec.write_text(yaml.safe_dump(doc))
    try:
        yield env, spec, receiver, tmp
    finally:
        receiver.stop()


def run(argv: list[str], env: dict, cwd: Path, timeout: float) -> tuple[int, str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,  # noqa: S603
                          timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def leaks(roots: list[Path], output: str, secrets: dict[str, str]) -> dict[str, list[str]]:
    """Per secret, the files under `roots` (every byte, binary too) and outputs that hold it."""
    found: dict[str, list[str]] = {}
    files = [p for root in roots for p in ([root] if root.is_file() else root.rglob("*"))
             if p.is_file()]
    for name, secret in secrets.items():
        hits = [str(p) for p in files if secret.encode() in p.read_bytes()]
        hits += ["the command's output"] if secret in output else []
        if hits:
            found[name] = hits
    return found


@pytest.fixture(scope="module")
def rollout_outputs(planted):
    env, spec, receiver, tmp = planted
    state, events = tmp / "state", tmp / "events.jsonl"
    argv = [sys.executable, "-m", "progressive", "rollout", str(spec), "--to", "v2",
            "--time-scale", "0.1", "--rps", "30", "--state-dir", str(state),
            "--events-json", str(events)]
    try:
        code, output = run(argv, env, REPO, run_bound(load_spec(spec).scaled(0.1))
                           + START_ALLOWANCE_S)
    finally:
        if state.exists():
            LocalPlatform(state).down()
    return code, output, [state, events], receiver


def test_a_rollout_writes_no_secret(rollout_outputs):
    code, output, roots, receiver = rollout_outputs
    assert code == 0, output
    assert any(SECRETS["metadata-token"].encode() in b for b in receiver.bodies), \
        "the hook never received its metadata: the check below would prove nothing"
    assert leaks(roots, output, NOT_IN_URL) == {}


def test_a_failed_hook_is_reported_without_the_credentials_in_its_url(rollout_outputs):
    code, output, roots, _ = rollout_outputs
    events = [json.loads(line) for line in roots[1].read_text().splitlines()]
    assert any(e["action"] == "hook_failed" for e in events), "the hook did not fail"
    assert leaks(roots, output, {k: v for k, v in SECRETS.items() if k.startswith("url-")}) == {}


def test_conformance_reports_hold_no_secret(planted):
    env, _, _, tmp = planted
    out = tmp / "conformance"
    argv = [sys.executable, "-m", "pytest",
            "suites/test_preview_routing.py::test_preview_answers_on_its_own_address", "-q",
            "-p", "no:cacheprovider", f"--basetemp={out / 'base'}",
            f"--progressive-state-dir={out / 'state'}", f"--alluredir={out / 'allure'}",
            f"--junitxml={out / 'junit.xml'}", f"--conformance-report={out / 'report.yaml'}"]
    code, output = run(argv, env, REPO, START_ALLOWANCE_S * 2)
    assert code == 0, output
    assert (out / "report.yaml").exists() and any((out / "allure").glob("*-result.json"))
    assert leaks([out], output, SECRETS) == {}


@pytest.mark.parametrize("platform", ["kind", "kubeconfig"])
def test_render_writes_no_secret_but_the_hook_metadata_flagger_needs(planted, platform):
    env, spec, _, tmp = planted
    out = tmp / f"render-{platform}"
    code, output = run([sys.executable, "-m", "progressive", "render", "--platform", platform,
                        "--engine", "flagger", "--out", str(out), "--spec", str(spec)],
                       env, REPO, START_ALLOWANCE_S)
    assert code == 0, output
    found = leaks([out], output, SECRETS)
    in_hooks = {k: found.pop(k, []) for k in ("metadata-token", "url-password", "url-token")}
    assert found == {}
    assert in_hooks["metadata-token"], "the Flagger Canary lost the hook's metadata"
    assert all(Path(p).parent.name == "flagger" for hits in in_hooks.values() for p in hits), \
        in_hooks
