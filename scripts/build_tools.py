"""Build the k8s-local platform's tools from their Go modules, pinned by fixtures/versions.yaml.

    python scripts/build_tools.py                        everything pinned (`make k8s-tools`)
    python scripts/build_tools.py --k8s-version 1.36.3   another Kubernetes, kept side by side

What it makes, under .tools/ (never committed):
    k8s-<v>/kube-apiserver, kube-controller-manager, kube-scheduler   version stamped (-ldflags)
    etcd-<v>/etcd, flagger-<v>/flagger
    crds/flagger-<v>.yaml    artifacts/flagger/crd.yaml from Flagger's module
    crds/istio-<v>.yaml      kubernetes/customresourcedefinitions.gen.yaml from istio.io/api
    bin/                     links to the pinned versions

The wrapper modules (tools/k8s, tools/etcd, tools/flagger; go.mod and go.sum committed) require
the releases; k8s.io/kubernetes replaces its staging modules with ./staging paths, which a
dependency cannot use, so tools/k8s replaces each with its published v0.X.Y. Another Kubernetes
release gets its wrapper generated under .tools/src/ from the pinned one. Each tool records the
inputs it was built from; a run whose inputs did not change does nothing (well under 2 s).

Without Go 1.25+ it says that the k8s-local platform needs it and how to get it, and exits 0
(everything else of `make install` still installs); with --require it exits 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VERSIONS = REPO / "fixtures" / "versions.yaml"
WRAPPERS = REPO / "tools"
MIN_GO = (1, 25)
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
GO_HINT = ("the k8s-local platform builds Kubernetes, etcd and Flagger from source and needs Go "
           f"{MIN_GO[0]}.{MIN_GO[1]}+ on PATH: https://go.dev/dl/ (Debian/Ubuntu: a release "
           "tarball; macOS: `brew install go`). Everything else is installed.")


class BuildFailed(Exception):
    """A go command failed; the message carries the end of its output."""


def say(text: str) -> None:
    print(f"[k8s-tools] {text}", file=sys.stderr, flush=True)


def go_version() -> tuple[int, int] | None:
    go = shutil.which("go")
    if go is None:
        return None
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else None


def go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: never fetch another Go behind the user's back; -mod=mod: the wrappers'
    # go.sum is the lock, and a generated wrapper (another Kubernetes) completes its own.
    return {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}


def run_go(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildFailed(f"`go {' '.join(args[:3])} ...` in {cwd} failed:\n{tail}")
    return proc.stdout


def fingerprint(*parts: object) -> str:
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


def k8s_wrapper(version: str, pinned: str, tools: Path) -> Path:
    """tools/k8s for the pinned release; for another, a copy with every version moved."""
    if version == pinned:
        return WRAPPERS / "k8s"
    src = tools / "src" / f"k8s-{version}"
    src.mkdir(parents=True, exist_ok=True)
    minor = version.split(".", 1)[1]
    text = (WRAPPERS / "k8s" / "go.mod").read_text()
    text = text.replace(f"k8s.io/kubernetes v{pinned}", f"k8s.io/kubernetes v{version}")
    text = re.sub(r"(=> k8s\.io/[\w-]+) v0\.[\d.]+", rf"\1 v0.{minor}", text)
    # The other requirements are the pinned release's: tidy moves them to this one's.
    head, _, _ = text.partition("\nrequire (")
    (src / "go.mod").write_text(head.rstrip() + "\n")
    say(f"Kubernetes {version}: resolving its modules (go get)")
    run_go(["get", "-tool", *(f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS)], src)
    return src


def build_k8s(version: str, pinned: str, tools: Path) -> Path:
    out = tools / f"k8s-{version}"
    wrapper = WRAPPERS / "k8s" if version == pinned else tools / "src" / f"k8s-{version}"
    inputs = fingerprint(version, wrapper / "go.mod" if wrapper.exists() else "", go_version())
    tool = Tool(f"Kubernetes {version}", out, list(K8S_COMMANDS), inputs)
    if tool.fresh():
        return out
    wrapper = k8s_wrapper(version, pinned, tools)
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
            *(f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS)], wrapper)
    tool.inputs = fingerprint(version, wrapper / "go.mod", go_version())
    tool.done()
    return out


def build_module(name: str, package: str, binary: str, version: str, tools: Path) -> Path:
    wrapper = WRAPPERS / name
    out = tools / f"{name}-{version}"
    tool = Tool(f"{name} {version}", out, [binary],
                fingerprint(version, wrapper / "go.mod", wrapper / "go.sum", go_version()))
    if tool.fresh():
        return out
    out.mkdir(parents=True, exist_ok=True)
    say(f"{name} {version}: building")
    run_go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / binary), package], wrapper)
    tool.done()
    return out


def module_dir(path: str, version: str, cwd: Path) -> Path:
    info = json.loads(run_go(["mod", "download", "-json", f"{path}@v{version}"], cwd))
    return Path(info["Dir"])


def copy_crds(versions: dict, tools: Path) -> None:
    """The CRDs, read from the module cache (never committed)."""
    crds = tools / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    wanted = {
        crds / f"flagger-{versions['flagger']}.yaml":
            ("github.com/fluxcd/flagger", versions["flagger"], "artifacts/flagger/crd.yaml"),
        crds / f"istio-{versions['istioApi']}.yaml":
            ("istio.io/api", versions["istioApi"],
             "kubernetes/customresourcedefinitions.gen.yaml"),
    }
    for dest, (path, version, inside) in wanted.items():
        if dest.exists():
            continue
        src = module_dir(path, version, WRAPPERS / "flagger") / inside
        if not src.is_file():
            raise BuildFailed(f"{inside} is not in {path}@v{version}")
        shutil.copyfile(src, dest)
        say(f"CRDs: {dest.name} from {path}@v{version}")


def link_pinned(tools: Path, dirs: list[Path]) -> None:
    bin_dir = tools / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        for exe in d.iterdir():
            if exe.is_file() and os.access(exe, os.X_OK):
                link = bin_dir / exe.name
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(exe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k8s-version", help="a Kubernetes release other than the pinned one")
    parser.add_argument("--tools-dir", type=Path, default=REPO / ".tools")
    parser.add_argument("--require", action="store_true", help="exit 2 when Go is missing")
    args = parser.parse_args(argv)
    versions = yaml.safe_load(VERSIONS.read_text())
    go = go_version()
    if go is None or go < MIN_GO:
        found = "not found" if go is None else f"Go {go[0]}.{go[1]} found"
        say(f"{GO_HINT} ({found})")
        return 2 if args.require else 0
    tools = args.tools_dir.resolve()
    started = time.monotonic()
    try:
        pinned = str(versions["kubernetes"])
        dirs = [build_k8s(pinned, pinned, tools),
                build_module("etcd", "go.etcd.io/etcd/server/v3", "etcd",
                             str(versions["etcd"]), tools),
                build_module("flagger", "github.com/fluxcd/flagger/cmd/flagger", "flagger",
                             str(versions["flagger"]), tools)]
        if args.k8s_version and args.k8s_version != pinned:
            build_k8s(args.k8s_version, pinned, tools)
        copy_crds(versions, tools)
        link_pinned(tools, dirs)
    except BuildFailed as exc:
        say(f"error: {exc}")
        return 2
    elapsed = time.monotonic() - started
    if elapsed > 2:
        say(f"done in {elapsed:.0f} s: {tools}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
