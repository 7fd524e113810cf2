"""Soak: many CLI rollouts back to back in one state dir, good and bad releases in a random order.

    python bench/bench_soak.py --runs 40 [--attached] [--seed N]
    from bench.bench_soak import run         rows for bench/run.py (PROGRESSIVE_SOAK_RUNS, default 4)

Each run is `progressive rollout fixtures/specs/seed-canary.yaml --to vN` at time scale 0.1 with
100 req/s, in one state dir, with no pause between runs; a bad release answers 30% errors. A
verdict is right when a good release is promoted (exit 0) and a bad one rolled back (exit 1).
It counts wrong verdicts, tracebacks, and the processes recorded under the state dir that are
still alive after the last run and a `progressive down` (the goal for each of the last two: 0).
With --attached, `progressive up` starts the platform first and every rollout attaches to it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchtable import Row, markdown_table

from progressive.processes import pid_alive

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "fixtures" / "specs" / "seed-canary.yaml"
RUNS_ENV, DEFAULT_RUNS, CLI_RUNS = "PROGRESSIVE_SOAK_RUNS", 4, 40
RUN_TIMEOUT_S = 300.0


@dataclass
class Outcome:
    version: str
    good: bool
    exit_code: int | None
    seconds: float
    traceback: bool
    last_line: str

    @property
    def right(self) -> bool:
        return self.exit_code == (0 if self.good else 1)


def progressive(state: Path, *args: str, timeout: float = RUN_TIMEOUT_S):
    return subprocess.run([sys.executable, "-m", "progressive", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def recorded_pids(state: Path) -> dict[int, float | None]:
    pids = {}
    for rec in [*state.glob("pids/*.json"), *state.glob("load-*/pids/*.json")]:
        try:
            data = json.loads(rec.read_text())
            pids[data["pid"]] = data.get("create_time")
        except (OSError, ValueError, KeyError):
            continue
    return pids


def measure(runs: int, attached: bool, seed: int, say=print) -> tuple[list[Outcome], int]:
    """(outcome per run, processes left after the last `down`)."""
    rng = random.Random(seed)
    kinds = [i % 2 == 0 for i in range(runs)]
    rng.shuffle(kinds)
    outcomes: list[Outcome] = []
    seen: dict[int, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        state = Path(tmp) / "state"
        if attached:
            progressive(state, "up", timeout=120)
        try:
            for i, good in enumerate(kinds):
                version = f"v{i + 2}"
                faults = [] if good else ["--error-rate", "0.3"]
                started = time.monotonic()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "progressive", "rollout", str(SEED), "--to", version,
                     *faults, "--time-scale", "0.1", "--rps", "100", "--state-dir", str(state)],
                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                while proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT_S:
                    seen |= recorded_pids(state)
                    time.sleep(0.2)  # a benchmark's sampling period, not a test's wait
                if proc.poll() is None:
                    proc.kill()
                out, err = proc.communicate()
                lines = (out + err).strip().splitlines()
                o = Outcome(version, good, proc.returncode, time.monotonic() - started,
                            "Traceback" in err, lines[-1] if lines else "")
                outcomes.append(o)
                say(f"{i + 1:>3}/{runs} {'good' if good else 'bad '} {version:>4}: exit "
                    f"{o.exit_code} in {o.seconds:.1f} s {'ok' if o.right else 'WRONG'}: "
                    f"{o.last_line[:110]}")
        finally:
            seen |= recorded_pids(state)
            progressive(state, "down", timeout=120)
        left = sum(pid_alive(pid, ct) for pid, ct in seen.items())
    return outcomes, left


def rows(outcomes: list[Outcome], left: int, attached: bool) -> list[Row]:
    n = len(outcomes)
    mode = "attached (`up` first)" if attached else "a platform per run"
    mean = sum(o.seconds for o in outcomes) / max(1, n)
    return [
        (f"soak, {mode}: right verdicts / runs", f"{sum(o.right for o in outcomes)}/{n}",
         f"{n}/{n}"),
        ("soak: tracebacks", str(sum(o.traceback for o in outcomes)), "0"),
        ("soak: processes left after the last `down`", str(left), "0"),
        ("soak: mean seconds per rollout", f"{mean:.1f}", "-"),
    ]


def run() -> list[Row]:
    outcomes, left = measure(int(os.environ.get(RUNS_ENV, DEFAULT_RUNS)), False, 1,
                             say=lambda s: print(s, file=sys.stderr, flush=True))
    return rows(outcomes, left, False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=CLI_RUNS, help=f"default {CLI_RUNS}")
    parser.add_argument("--attached", action="store_true", help="`progressive up` first")
    parser.add_argument("--seed", type=int, default=1, help="order of good and bad releases")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    outcomes, left = measure(args.runs, args.attached, args.seed)
    print(markdown_table(rows(outcomes, left, args.attached)))
    return 0 if all(o.right and not o.traceback for o in outcomes) and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
