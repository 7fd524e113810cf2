"""`progressive tools install`: the k8s-local tools built from the package's wrapper modules into
the user cache, as a wheel user gets them.

Without Go (or with one older than 1.25) the command says what the platform needs and how to
get Go, exit 0 (2 with --require); a failed build exits 2 with go's output. With the tools
built, a warm run builds nothing, well under 2 s. `go` never runs in the package: each wrapper
is copied into the cache first, and the fingerprints hold contents, not paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from k8s_local_support import tools_built

from progressive.platforms.k8s_local import tools

CLI_S = 60.0  # a CLI start and the Go check on a loaded machine; a warm run's own work is < 2 s
WARM_S = 2.0
NAMES = ("k8s", "etcd", "flagger")


def progressive(*args: str, env: dict[str, str] | None = None,
                timeout: float = CLI_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "progressive", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def env_with_path(path: Path, cache: Path) -> dict[str, str]:
    """This environment with PATH = `path` only (python is reached by sys.executable) and the
    user cache under `cache`."""
    return {**os.environ, "PATH": str(path), "PROGRESSIVE_CACHE_DIR": str(cache)}


def fake_go(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    go = bin_dir / "go"
    go.write_text("#!/bin/sh\n" + script)
    go.chmod(0o755)


@pytest.mark.integration
def test_without_go_it_says_how_to_get_go_and_exits_0_or_2_with_require(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = env_with_path(empty, tmp_path / "cache")
    assert shutil.which("go", path=str(empty)) is None

    run = progressive("tools", "install", env=env)
    assert run.returncode == 0, run.stderr
    assert "https://go.dev/dl/" in run.stderr and "Go 1.25+" in run.stderr, run.stderr
    assert "Go not found on PATH" in run.stderr and "k8s-local" in run.stderr

    required = progressive("tools", "install", "--require", env=env)
    assert required.returncode == 2, required.stderr
    assert "https://go.dev/dl/" in required.stderr and "Traceback" not in required.stderr
    assert not (tmp_path / "cache").exists()  # nothing was built or copied


@pytest.mark.integration
def test_a_go_older_than_1_25_is_named(tmp_path):
    fake_go(tmp_path / "bin", "echo go1.22.4\n")
    run = progressive("tools", "install", env=env_with_path(tmp_path / "bin", tmp_path / "c"))
    assert run.returncode == 0, run.stderr
    assert "Go 1.22 found" in run.stderr and "https://go.dev/dl/" in run.stderr, run.stderr


@pytest.mark.integration
def test_a_failed_build_exits_2_with_the_end_of_gos_output(tmp_path):
    fake_go(tmp_path / "bin", 'if [ "$1" = env ]; then echo go1.26.0; exit 0; fi\n'
                              'echo "fake go: cannot $1 here" >&2\nexit 1\n')
    cache = tmp_path / "cache"
    run = progressive("tools", "install", env=env_with_path(tmp_path / "bin", cache))
    assert run.returncode == 2, run.stderr
    assert "fake go: cannot build here" in run.stderr and "Traceback" not in run.stderr
    # it ran in the cache's copy of the wrapper, not in the package
    assert str(cache / "tools" / "src" / f"k8s-{tools.versions()['kubernetes']}") in run.stderr


@pytest.mark.integration
def test_path_prints_the_tools_dir_of_the_user_cache(tmp_path):
    run = progressive("tools", "path",
                      env={**os.environ, "PROGRESSIVE_CACHE_DIR": str(tmp_path / "c")})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(tmp_path / "c" / "tools")


def test_the_tools_dir_follows_the_cache_env(tmp_path, monkeypatch):
    from progressive.errors import MissingBinary
    from progressive.platforms.k8s_local.control_plane import tool_path

    monkeypatch.setenv("PROGRESSIVE_CACHE_DIR", str(tmp_path))
    assert tools.tools_dir() == tmp_path / "tools"
    with pytest.raises(MissingBinary, match="progressive tools install") as missing:
        tool_path("etcd")
    pinned = tools.versions()["etcd"]
    assert str(tmp_path / "tools" / f"etcd-{pinned}" / "etcd") in str(missing.value)


def test_the_wrapper_is_copied_into_the_cache_and_the_package_holds_only_its_files(tmp_path):
    for name in NAMES:
        assert sorted(p.name for p in (tools.MODULES / name).iterdir()) == ["go.mod", "go.sum"]
    src = tools.wrapper("etcd", "3.6.16", tmp_path)
    assert src == tmp_path / "src" / "etcd-3.6.16"
    (src / "go.sum").write_text("changed by a go run\n")
    tools.wrapper("etcd", "3.6.16", tmp_path)  # the packaged lock wins again
    for file in tools.WRAPPER_FILES:
        assert (src / file).read_bytes() == (tools.MODULES / "etcd" / file).read_bytes()


def test_the_fingerprints_hold_contents_and_versions_not_paths(tmp_path, monkeypatch):
    pinned = str(tools.versions()["kubernetes"])
    before = tools.k8s_inputs(pinned, pinned, tmp_path / "a")
    shutil.copytree(tools.MODULES, tmp_path / "moved")
    monkeypatch.setattr(tools, "MODULES", tmp_path / "moved")
    assert tools.k8s_inputs(pinned, pinned, tmp_path / "b") == before
    (tmp_path / "moved" / "k8s" / "go.mod").write_text("module changed\n")
    assert tools.k8s_inputs(pinned, pinned, tmp_path / "b") != before
    assert tools.k8s_inputs("1.36.3", pinned, tmp_path / "b") != before


warm_only = pytest.mark.skipif(not tools_built() or tools.go_problem() is not None,
                               reason="the k8s-local tools are not built or Go 1.25+ is "
                               "missing: `progressive tools install`")


def outputs_state() -> dict[str, tuple[float, str]]:
    """Every built file and stamp of the tools dir: mtime and, for a stamp, its contents."""
    root = tools.tools_dir()
    state = {}
    for d in root.iterdir():
        if d.name in ("bin", "src") or not d.is_dir():
            continue
        for f in d.iterdir():
            state[str(f)] = (f.stat().st_mtime, f.read_text() if f.name == ".built-from" else "")
    return state


@pytest.mark.integration
@warm_only
def test_a_warm_install_builds_nothing_quickly_and_keeps_the_wrapper_copies():
    before = outputs_state()
    started = time.monotonic()
    run = progressive("tools", "install")
    wall = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert "nothing to build" in run.stderr and "building" not in run.stderr, run.stderr
    assert outputs_state() == before
    assert wall < CLI_S

    done = tools.install()  # the command's own work, without the CLI's start
    assert done.built == [] and done.elapsed_s < WARM_S, done

    pins = tools.versions()
    for name, key in (("k8s", "kubernetes"), ("etcd", "etcd"), ("flagger", "flagger")):
        copy = tools.tools_dir() / "src" / f"{name}-{pins[key]}"
        assert (copy / "go.mod").read_bytes() == (tools.MODULES / name / "go.mod").read_bytes()
    for link in (tools.tools_dir() / "bin").iterdir():
        assert not os.path.isabs(os.readlink(link)) and link.resolve().is_file(), link
