"""Names and values from a spec can neither escape the state dir nor inject command-line flags.

Names become file names under the state dir (STATE/logs/app-NS-NAME-..., STATE/engine/NS_NAME
.json), Envoy cluster names and process arguments. The model refuses anything that is not a
DNS-1123 label, so `--port=1` or `../x` never gets that far: checked end to end with
`progressive validate` and `progressive rollout` (exit 2, the field path, nothing started).
Values that reach a process as arguments (a version, a commit) are passed as single argv
items and must arrive as data, whatever they look like.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from progressive.platforms.local import workloads as workloads_module
from progressive.platforms.local.workloads import LocalWorkloads
from progressive.processes import stop_all_recorded
from progressive.workloads.base import AppVersion

REPO = Path(__file__).resolve().parents[2]
SEED = yaml.safe_load((REPO / "fixtures" / "specs" / "seed-canary.yaml").read_text())
VS = yaml.safe_load((REPO / "fixtures" / "specs" / "seed-virtualservice-fixed.yaml").read_text())
HOSTILE = ["--port=1", "../x", "..", "a/b", "/etc", "-x", "x y", "$(id)", "x;rm -rf ~"]
BIND_QUICK_S = 6.0  # a replica binds in ~1 s; 6x for a loaded machine
FIELDS = {  # field path -> how to set it in the seed's Canary
    "metadata.name": lambda d, v: d["metadata"].__setitem__("name", v),
    "metadata.namespace": lambda d, v: d["metadata"].__setitem__("namespace", v),
    "spec.targetRef.name": lambda d, v: d["spec"]["targetRef"].__setitem__("name", v),
}


def progressive(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive", *args], cwd=REPO,  # noqa: S603
                          capture_output=True, text=True, timeout=timeout)


def canary_with(field: str, value: str) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(SEED))
    FIELDS[field](doc, value)
    return doc


def test_validate_refuses_every_hostile_name_with_its_field_path(tmp_path):
    files = {}
    for i, (field, value) in enumerate((f, v) for f in FIELDS for v in HOSTILE):
        path = tmp_path / f"canary-{i}.yaml"
        path.write_text(yaml.safe_dump(canary_with(field, value)))
        files[path] = field
    done = progressive("validate", *map(str, files))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    for path, field in files.items():
        mine = [line for line in lines if line.startswith(f"FAIL  {path}")]
        assert any(f"{field}: " in line for line in mine), (path, field, mine)


@pytest.mark.parametrize("value", ["../x", "--port=1"])
def test_a_virtual_service_name_is_refused_too(tmp_path, value):
    doc = yaml.safe_load(yaml.safe_dump(VS))
    doc["metadata"]["name"] = value
    path = tmp_path / "vs.yaml"
    path.write_text(yaml.safe_dump(doc))
    done = progressive("validate", str(path))
    assert done.returncode == 2 and "metadata.name: " in done.stdout, done.stdout


def test_rollout_refuses_a_hostile_target_before_anything_starts(tmp_path):
    spec, state = tmp_path / "canary.yaml", tmp_path / "state"
    spec.write_text(yaml.safe_dump(canary_with("spec.targetRef.name", "../../x")))
    done = progressive("rollout", str(spec), "--to", "v2", "--state-dir", str(state))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "spec.targetRef.name" in done.stderr and "Traceback" not in done.stderr
    assert not state.exists(), "something started before the spec was refused"


@pytest.mark.parametrize("host", ["croc.--never-ready.svc.cluster.local", "a/b", "../../x"])
def test_a_hostile_destination_host_is_refused(tmp_path, host):
    doc = yaml.safe_load(yaml.safe_dump(VS))
    doc["spec"]["http"][0]["route"][0]["destination"]["host"] = host
    path = tmp_path / "vs.yaml"
    path.write_text(yaml.safe_dump(doc))
    done = progressive("validate", str(path))
    assert done.returncode == 2 and "destination.host" in done.stdout, done.stdout


# -- values as process arguments --------------------------------------------------------------


@pytest.fixture
def workloads(tmp_path):
    wl = LocalWorkloads(tmp_path, "argv")
    try:
        yield wl
    finally:
        wl.stop_all()
        stop_all_recorded(tmp_path)


def served(workloads: LocalWorkloads, app: AppVersion) -> tuple[dict, list[str]]:
    """Deploy `app`; what its replica says it runs (/version) and its command line."""
    workloads.deploy("croc-hunter", app, replicas=1)
    [(host, port)] = workloads.endpoints("croc-hunter")
    [pid] = workloads.describe()["croc-hunter"]["pids"]
    return requests.get(f"http://{host}:{port}/version", timeout=5).json(), \
        psutil.Process(pid).cmdline()


@pytest.mark.integration
def test_values_with_spaces_and_dashes_reach_the_app_as_data(workloads):
    app = AppVersion("v2 --port 1 --never-ready", commit="abc --error-rate 1")
    info, argv = served(workloads, app)
    assert (info["version"], info["commit"]) == (app.version, app.commit)
    assert f"--version={app.version}" in argv and f"--commit={app.commit}" in argv, argv
    assert "--never-ready" not in argv and "1" not in argv, argv


@pytest.mark.integration
@pytest.mark.parametrize("app", [AppVersion("--never-ready"), AppVersion("v2", commit="-x")],
                         ids=["version", "commit"])
def test_a_value_that_looks_like_a_flag_is_still_data(workloads, app, monkeypatch):
    # The replica exits at once with the bug: do not wait the full bind bound for its port.
    monkeypatch.setattr(workloads_module, "BIND_TIMEOUT_S", BIND_QUICK_S)
    info, _ = served(workloads, app)
    assert (info["version"], info["commit"]) == (app.version, app.commit)
