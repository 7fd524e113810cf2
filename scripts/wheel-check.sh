#!/usr/bin/env bash
# The product as its users get it: build the sdist and the wheel, check them with twine, install
# the wheel into a fresh venv outside the checkout, and from an empty directory run
#   - the conformance suites' stepping and preview tests (`-k "stepping or preview"`: the
#     canary stepping, step weights, traffic share, promotion and 1% preview tests; the whole
#     suite runs from the checkout in `make test`),
#   - `progressive render --platform kind`,
#   - `progressive tools install` (warm after `make install`: it finds the packaged modules),
#   - pytest on a copy of examples/team-repo, the plugin loaded through its entry point.
# Usage: scripts/wheel-check.sh [WORK_DIR]   (default: a temporary directory, removed after)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dev="$repo/.venv/bin"
work="${1:-}"
if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/progressive-wheel.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
say() { printf '\n[wheel-check] %s\n' "$*"; }

say "building the sdist and the wheel"
rm -rf "$work/dist"
"$dev/python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
"$dev/twine" check --strict "$work"/dist/*
"$dev/python" "$repo/scripts/wheel_contents.py" "$work"/dist/*.whl "$work"/dist/*.tar.gz

say "installing the wheel into a fresh venv"
rm -rf "$work/venv"
"${PYTHON:-python3}" -m venv "$work/venv"
venv="$work/venv/bin"
"$venv/pip" install --quiet --upgrade pip
"$venv/pip" install --quiet "$work"/dist/*.whl

# From an empty directory, with nothing of the checkout on the path.
empty="$work/empty"
rm -rf "$empty" && mkdir -p "$empty" && cd "$empty"
unset PYTHONPATH
"$venv/python" - <<'EOF'
import pathlib, sys, sysconfig
import progressive
where = pathlib.Path(progressive.__file__).resolve()
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
assert site in where.parents, f"progressive imported from {where}, not from {site}"
checkout = [p for p in sys.path if pathlib.Path(p or ".").resolve().joinpath("pyproject.toml").exists()]
assert not checkout, f"a checkout is on sys.path: {checkout}"
print(f"progressive {progressive.__version__} imported from {where}")
EOF
"$venv/progressive" --version

say "progressive conformance -- -k 'stepping or preview'"
"$venv/progressive" conformance --report-dir reports --no-html -- -k "stepping or preview"
test -s reports/conformance.yaml && test -s reports/junit.xml

say "progressive render --platform kind"
"$venv/progressive" render --platform kind --out rendered >/dev/null
for f in commands.sh cluster/kind-cluster.yaml image/Dockerfile image/progressive/app/server.py \
         manifests/croc-hunter.yaml; do
  test -s "rendered/$f" || { echo "render wrote no $f"; exit 1; }
done
echo "render: $(find rendered -type f | wc -l) files, the image context included"

say "progressive tools install"
"$venv/python" -c '
from progressive.platforms.k8s_local.tools import MODULES
found = sorted(p.parent.name for p in MODULES.glob("*/go.mod") if (p.parent / "go.sum").is_file())
assert found == ["etcd", "flagger", "k8s"], found
print("wrapper modules in the installed package:", ", ".join(found))'
"$venv/progressive" tools install

say "examples/team-repo with the installed plugin"
cp -r "$repo/examples/team-repo" team-repo
cd team-repo
"$venv/python" -m pytest -v -p no:cacheprovider | tee ../team-repo.log
grep -Eq "^plugins:.*progressive-" ../team-repo.log \
  || { echo "the progressive plugin was not loaded through its entry point"; exit 1; }
