"""Run the benchmarks in bench/ and write one markdown table: `make bench`.

    .venv/bin/python bench/run.py                 every bench/bench_*.py, in name order
    .venv/bin/python bench/run.py --only app      one of them (bench_app.py)

Each module runs in a fresh interpreter (a crash, a hang or a gevent monkey-patch in one cannot
touch the others): the child loads the module with runpy under a name other than `__main__`
(so its script block does not run), calls its `run()` and writes the rows as JSON to a file the
runner names; the module's own output goes to this process's stderr. The protocol is in
bench/README.md. Missing a target is a result; the exit code is 1 only when a benchmark failed
to produce its rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "out" / "results.md"
DEFAULT_TIMEOUT_S = 1800.0
STDERR_FD = 2  # the modules' own output goes to our stderr, live; stdout is the table

# The child: load the module (not as __main__), call run(), write its rows (or why not) as JSON.
CHILD = """
import json, pathlib, runpy, sys, traceback
path, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, str(pathlib.Path(path).parent))
try:
    rows = runpy.run_path(path, run_name="bench_module")["run"]()
    result = {"rows": [[str(cell) for cell in row] for row in rows]}
except BaseException as exc:
    traceback.print_exc()
    result = {"error": f"{type(exc).__name__}: {exc}".strip().splitlines()[0]}
with open(out, "w") as f:
    json.dump(result, f)
sys.exit("error" in result)
"""


def discover(bench_dir: Path = BENCH_DIR) -> list[Path]:
    return sorted(bench_dir.glob("bench_*.py"))


def select(modules: list[Path], only: str | None) -> list[Path]:
    if not only:
        return modules
    wanted = only.removesuffix(".py")
    wanted = wanted if wanted.startswith("bench_") else f"bench_{wanted}"
    chosen = [m for m in modules if m.stem == wanted]
    if not chosen:
        names = ", ".join(m.stem for m in modules) or "none"
        raise SystemExit(f"run.py: no benchmark named {only!r} (found: {names})")
    return chosen


def _stop_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the module's process group (its own cleanup runs), SIGKILL after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


def run_module(path: Path, timeout_s: float) -> tuple[list[list[str]] | None, str, float]:
    """(rows or None, error message, seconds) for one benchmark module."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "rows.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        # Own session, so that a timeout or Ctrl-C stops the module's children too.
        proc = subprocess.Popen(  # noqa: S603 - argv list
            [sys.executable, "-c", CHILD, str(path), str(out)], cwd=REPO, env=env,
            stdout=STDERR_FD, stderr=STDERR_FD, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            return None, f"did not finish within {timeout_s:.0f} s", time.monotonic() - started
        except KeyboardInterrupt:
            _stop_group(proc)
            raise
        elapsed = time.monotonic() - started
        try:
            result = json.loads(out.read_text())
        except (OSError, ValueError):
            return None, f"exit {code} and no rows", elapsed
        if "error" in result:
            return None, result["error"], elapsed
        rows = result.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 3 for r in rows):
            return None, "run() must return a list of (metric, value, target)", elapsed
        return rows, "", elapsed


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(name: str, rows: list[list[str]] | None, error: str, seconds: float) -> str:
    head = f"## {name}\n\n_{seconds:.0f} s_\n\n"
    if rows is None:
        return head + f"**failed**: {_cell(error)}\n"
    lines = ["| metric | value | target |", "|---|---|---|"]
    lines += [f"| {_cell(m)} | {_cell(v)} | {_cell(t)} |" for m, v, t in rows]
    return head + "\n".join(lines) + "\n"


def header() -> str:
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return (f"# Benchmarks\n\n{when}, {platform.node()}: {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", metavar="NAME", help="run one benchmark (app or bench_app)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write")
    p.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help="seconds one benchmark may take")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    a = p.parse_args(argv)
    modules = select(discover(a.bench_dir), a.only)
    if a.list:
        print("\n".join(m.stem for m in modules))
        return 0
    parts, failed = [header()], 0
    for path in modules:
        print(f"run.py: {path.stem} ...", file=sys.stderr, flush=True)
        rows, error, seconds = run_module(path, a.timeout)
        failed += rows is None
        parts.append(section(path.stem, rows, error, seconds))
    text = "\n".join(parts)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(f".{a.out.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, a.out)
    print(f"run.py: wrote {a.out}" + (f"; {failed} benchmark(s) failed" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
