"""Build the k8s-local platform's tools from their Go modules, pinned by fixtures/versions.yaml.

    progressive tools install                                everything pinned
    progressive tools install --kubernetes-version 1.36.3    another Kubernetes, side by side

What it makes, in the user cache (`tools_dir()`: $PROGRESSIVE_CACHE_DIR/tools, else
~/.cache/progressive/tools; never in the package or the checkout):
    k8s-<v>/kube-apiserver, kube-controller-manager, kube-scheduler   version stamped (-ldflags)
    etcd-<v>/etcd, flagger-<v>/flagger
    crds/flagger-<v>.yaml    artifacts/flagger/crd.yaml from Flagger's module
    crds/istio-<v>.yaml      kubernetes/customresourcedefinitions.gen.yaml from istio.io/api
    bin/                     links to the pinned versions
    src/<name>-<v>/          the wrapper module each was built in

The wrapper modules ship with the package (modules/k8s, modules/etcd, modules/flagger: go.mod
and go.sum) and require the releases; k8s.io/kubernetes replaces its staging modules with
./staging paths, which a dependency cannot use, so modules/k8s replaces each with its published
v0.X.Y. `go` never runs in the package (it may be read-only, and -mod=mod may complete a
go.sum): each wrapper is copied to src/<name>-<v>/ and built there. Another Kubernetes release
gets its wrapper generated under src/ from the pinned one. Each tool records a fingerprint of
its inputs (the versions, the wrapper files' contents and Go's version; no paths) beside its
outputs; a run whose inputs did not change does nothing (well under 2 s).

Go 1.25+ is needed (`go_problem()` says what is missing); the command line
(progressive/commands/tools.py) turns its absence into a hint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from progressive import resources
from progressive.errors import UserError

MODULES = Path(__file__).resolve().parent / "modules"
WRAPPER_FILES = ("go.mod", "go.sum")
MIN_GO = (1, 25)
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
GO_DL = "https://go.dev/dl/"
GO_HINT = ("the k8s-local platform builds Kubernetes (kube-apiserver, kube-controller-manager, "
           "kube-scheduler), etcd and Flagger from their Go modules and needs Go "
           f"{MIN_GO[0]}.{MIN_GO[1]}+ on PATH: {GO_DL} (Debian/Ubuntu: a release tarball; "
           "macOS: `brew install go`), then run `progressive tools install`. The other "
           "platforms do not need it.")


class BuildFailed(UserError):
    """A go command failed; the message carries the end of its output (exit 2)."""


def tools_dir() -> Path:
    """Where the tools are built: the user cache's tools/ (read at each call, so that
    $PROGRESSIVE_CACHE_DIR set later counts)."""
    return resources.cache_dir("tools")


def versions() -> dict:
    """fixtures/versions.yaml: the releases the tools are built from."""
    return yaml.safe_load(resources.fixture("versions.yaml").read_text())


def say(text: str) -> None:
    print(f"[tools] {text}", file=sys.stderr, flush=True)


@functools.cache
def _go_version_of(go: str) -> tuple[int, int] | None:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else None


def go_version() -> tuple[int, int] | None:
    """(major, minor) of the `go` on PATH, None without one."""
    go = shutil.which("go")
    return None if go is None else _go_version_of(go)


def go_problem() -> str | None:
    """None when a Go 1.25+ is on PATH; else what was found ("not found", "Go 1.22 found")."""
    go = go_version()
    if go is None:
        return "Go not found on PATH"
    if go < MIN_GO:
        return f"Go {go[0]}.{go[1]} found"
    return None


def go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: never fetch another Go behind the user's back; -mod=mod: the wrappers'
    # go.sum is the lock, and a generated wrapper (another Kubernetes) completes its own.
    return {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}


GO_TIMEOUT_S = 45 * 60.0  # a cold Kubernetes build on 2 cores takes about 8 min


def run_go(args: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True,
                              text=True, timeout=GO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"`go {' '.join(args[:3])} ...` in {cwd} did not finish in "
                          f"{GO_TIMEOUT_S / 60:.0f} min") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildFailed(f"`go {' '.join(args[:3])} ...` in {cwd} failed:\n{tail}")
    return proc.stdout


def fingerprint(*parts: object) -> str:
    """Of the versions and the files' contents (never their paths: a moved cache or package
    stays fresh)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.read_bytes() if isinstance(part, Path) else str(part).encode())
    return h.hexdigest()[:20]


class Tool:
    """One build: the inputs' fingerprint is recorded beside the outputs; same inputs, no work."""

    def __init__(self, name: str, out_dir: Path, outputs: list[str], inputs: str):
        self.name, self.out_dir, self.outputs, self.inputs = name, out_dir, outputs, inputs
        self.stamp = out_dir / ".built-from"

    def fresh(self) -> bool:
        return (self.stamp.exists() and self.stamp.read_text() == self.inputs
                and all((self.out_dir / o).exists() for o in self.outputs))

    def done(self) -> None:
        self.stamp.write_text(self.inputs)


def wrapper(name: str, version: str, tools: Path) -> Path:
    """The packaged wrapper module `name`, copied to tools/src/<name>-<version>/ (the files
    rewritten only when their contents differ): go runs there, never in the package."""
    src = tools / "src" / f"{name}-{version}"
    src.mkdir(parents=True, exist_ok=True)
    for file in WRAPPER_FILES:
        data = (MODULES / name / file).read_bytes()
        dest = src / file
        if not dest.is_file() or dest.read_bytes() != data:
            dest.unlink(missing_ok=True)  # a copy that kept the package's read-only mode
            dest.write_bytes(data)
    return src


def k8s_wrapper(version: str, pinned: str, tools: Path) -> Path:
    """modules/k8s for the pinned release (copied); for another, a copy with every version
    moved, completed by `go get`."""
    if version == pinned:
        return wrapper("k8s", version, tools)
    src = tools / "src" / f"k8s-{version}"
    src.mkdir(parents=True, exist_ok=True)
    minor = version.split(".", 1)[1]
    text = (MODULES / "k8s" / "go.mod").read_text()
    text = text.replace(f"k8s.io/kubernetes v{pinned}", f"k8s.io/kubernetes v{version}")
    text = re.sub(r"(=> k8s\.io/[\w-]+) v0\.[\d.]+", rf"\1 v0.{minor}", text)
    # The other requirements are the pinned release's: tidy moves them to this one's.
    head, _, _ = text.partition("\nrequire (")
    (src / "go.mod").write_text(head.rstrip() + "\n")
    say(f"Kubernetes {version}: resolving its modules (go get)")
    run_go(["get", "-tool", *(f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS)], src)
    return src


def k8s_inputs(version: str, pinned: str, tools: Path) -> str:
    go_mod = (MODULES / "k8s" / "go.mod" if version == pinned
              else tools / "src" / f"k8s-{version}" / "go.mod")
    return fingerprint(version, go_mod if go_mod.exists() else "", go_version())


@dataclass
class Installed:
    """What a run did: `built` names each tool it built (empty: everything was fresh)."""

    tools: Path
    built: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def build_k8s(version: str, pinned: str, tools: Path, done: Installed) -> Path:
    out = tools / f"k8s-{version}"
    tool = Tool(f"Kubernetes {version}", out, list(K8S_COMMANDS),
                k8s_inputs(version, pinned, tools))
    if tool.fresh():
        return out
    src = k8s_wrapper(version, pinned, tools)
    major, minor = version.split(".")[:2]
    stamp = {"gitVersion": f"v{version}", "gitMajor": major, "gitMinor": minor,
             "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z"}
    ldflags = " ".join(["-s", "-w"] + [f"-X k8s.io/component-base/version.{k}={v}"
                                      for k, v in stamp.items()]
                       + [f"-X k8s.io/client-go/pkg/version.{k}={v}" for k, v in stamp.items()])
    out.mkdir(parents=True, exist_ok=True)
    say(f"Kubernetes {version}: building {', '.join(K8S_COMMANDS)} (cold: about 7 min on 2 "
        "cores)")
    run_go(["build", "-trimpath", "-ldflags", ldflags, "-o", str(out) + "/",
            *(f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS)], src)
    tool.inputs = k8s_inputs(version, pinned, tools)  # another release: its go.mod, completed
    tool.done()
    done.built.append(tool.name)
    return out


def build_module(name: str, package: str, binary: str, version: str, tools: Path,
                 done: Installed) -> Path:
    out = tools / f"{name}-{version}"
    tool = Tool(f"{name} {version}", out, [binary],
                fingerprint(version, *(MODULES / name / f for f in WRAPPER_FILES),
                            go_version()))
    if tool.fresh():
        return out
    src = wrapper(name, version, tools)
    out.mkdir(parents=True, exist_ok=True)
    say(f"{name} {version}: building")
    run_go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / binary), package], src)
    tool.done()
    done.built.append(tool.name)
    return out


def module_dir(path: str, version: str, cwd: Path) -> Path:
    info = json.loads(run_go(["mod", "download", "-json", f"{path}@v{version}"], cwd))
    return Path(info["Dir"])


def copy_crds(pins: dict, tools: Path, done: Installed) -> None:
    """The CRDs, read from the module cache (never committed)."""
    crds = tools / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    wanted = {
        crds / f"flagger-{pins['flagger']}.yaml":
            ("github.com/fluxcd/flagger", pins["flagger"], "artifacts/flagger/crd.yaml"),
        crds / f"istio-{pins['istioApi']}.yaml":
            ("istio.io/api", pins["istioApi"], "kubernetes/customresourcedefinitions.gen.yaml"),
    }
    for dest, (path, version, inside) in wanted.items():
        if dest.exists():
            continue
        cwd = wrapper("flagger", str(pins["flagger"]), tools)
        src = module_dir(path, version, cwd) / inside
        if not src.is_file():
            raise BuildFailed(f"{inside} is not in {path}@v{version}")
        partial = dest.with_name(f".{dest.name}.partial")
        shutil.copyfile(src, partial)
        os.replace(partial, dest)  # an interrupted copy is never taken for a done one
        say(f"CRDs: {dest.name} from {path}@v{version}")
        done.built.append(f"CRDs {dest.name}")


def link_pinned(tools: Path, dirs: list[Path]) -> None:
    """bin/NAME -> ../<tool>-<version>/NAME, relative (the cache may move); a link already
    right is left alone, and a changed one is replaced atomically (a running test may be
    starting it)."""
    bin_dir = tools / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        for exe in sorted(d.iterdir()):
            if not (exe.is_file() and os.access(exe, os.X_OK)):
                continue
            link = bin_dir / exe.name
            target = os.path.relpath(exe, bin_dir)
            if link.is_symlink() and os.readlink(link) == target:
                continue
            tmp = bin_dir / f".{exe.name}.new"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, link)


def sync_wrappers(pins: dict, tools: Path) -> None:
    """src/ holds a copy of each pinned wrapper, as packaged (cheap; also on a warm run)."""
    for name, key in (("k8s", "kubernetes"), ("etcd", "etcd"), ("flagger", "flagger")):
        wrapper(name, str(pins[key]), tools)


def install(kubernetes_version: str | None = None, tools: Path | None = None) -> Installed:
    """Build what is missing or stale (the pinned tools, and `kubernetes_version` beside them
    when it is another release), copy the CRDs, link bin/. Needs Go 1.25+ (check
    `go_problem()` first); BuildFailed carries the go output's tail."""
    tools = (tools or tools_dir()).resolve()
    started = time.monotonic()
    done = Installed(tools)
    pins = versions()
    pinned = str(pins["kubernetes"])
    tools.mkdir(parents=True, exist_ok=True)
    sync_wrappers(pins, tools)
    dirs = [build_k8s(pinned, pinned, tools, done),
            build_module("etcd", "go.etcd.io/etcd/server/v3", "etcd", str(pins["etcd"]), tools,
                         done),
            build_module("flagger", "github.com/fluxcd/flagger/cmd/flagger", "flagger",
                         str(pins["flagger"]), tools, done)]
    if kubernetes_version and kubernetes_version != pinned:
        build_k8s(kubernetes_version, pinned, tools, done)
    copy_crds(pins, tools, done)
    link_pinned(tools, dirs)
    done.elapsed_s = time.monotonic() - started
    return done
