"""Croc Hunter's knobs: version, build facts and fault injection, from flags and environment.

Each knob is a CLI flag and an environment variable; the flag wins. `Knobs` is also the
library's way to build the app in-process (`progressive.app.build_app(Knobs(...))`), so the
values are checked in the dataclass itself: a bad value raises `KnobError` (exit 2 in the CLI)
whether it came from a flag, the environment or code.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from progressive.errors import UserError

DEFAULT_VERSION = "v1"
DEFAULT_POWERED_BY = "aiohttp"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class KnobError(UserError):
    """A knob has a value the app cannot run with (exit 2, message names the knob)."""


@dataclass(frozen=True)
class Knobs:
    version: str = DEFAULT_VERSION
    commit: str = "unknown"
    powered_by: str = DEFAULT_POWERED_BY
    error_rate: float = 0.0  # share of app requests answered 500, each decided independently
    latency_ms: float = 0.0  # added before every app request
    crash_after: int = 0  # exit with code 3 after this many app requests; 0 = never
    never_ready: bool = False  # /healthz answers 503 forever
    host: str = "127.0.0.1"
    port: int = 8080  # 0 = the OS picks
    port_file: str | None = None
    seed: int | None = None  # for the error-rate RNG

    def __post_init__(self) -> None:
        _check(self)

    def argv(self) -> list[str]:
        """Flags that give these knobs to `python -m progressive.app` (parse_knobs inverts it)."""
        flags = [f"--version={self.version}", f"--commit={self.commit}",  # `=`: may start with '-'
                 f"--powered-by={self.powered_by}", "--error-rate", repr(float(self.error_rate)),
                 "--latency-ms", repr(float(self.latency_ms)),
                 "--crash-after", str(self.crash_after),
                 "--never-ready" if self.never_ready else "--no-never-ready",
                 "--host", self.host, "--port", str(self.port)]
        if self.port_file is not None:
            flags += ["--port-file", self.port_file]
        if self.seed is not None:
            flags += ["--seed", str(self.seed)]
        return flags

    def fault_knobs(self) -> dict[str, object]:
        """The knobs `/version` reports (what makes this release good or bad)."""
        d = asdict(self)
        return {k: d[k] for k in ("error_rate", "latency_ms", "crash_after", "never_ready", "seed")}


def _check(k: Knobs) -> None:
    def bad(knob: str, rule: str, value: object) -> KnobError:
        return KnobError(f"{knob} must be {rule}, got {value!r}")

    if not k.version or any(c in k.version for c in "\r\n"):
        raise bad("--version/CROC_VERSION", "a non-empty single-line string", k.version)
    if not (isinstance(k.error_rate, int | float) and 0.0 <= k.error_rate <= 1.0):
        raise bad("--error-rate/CROC_ERROR_RATE", "a number between 0 and 1", k.error_rate)
    latency_ok = isinstance(k.latency_ms, int | float) and math.isfinite(k.latency_ms)
    if not (latency_ok and k.latency_ms >= 0):
        raise bad("--latency-ms/CROC_LATENCY_MS", "a number >= 0", k.latency_ms)
    if not (isinstance(k.crash_after, int) and k.crash_after >= 0):
        raise bad("--crash-after/CROC_CRASH_AFTER", "an integer >= 0 (0 = never)", k.crash_after)
    if not (isinstance(k.port, int) and 0 <= k.port <= 65535):
        raise bad("--port", "an integer between 0 and 65535", k.port)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m progressive.app",
        description="Croc Hunter: the app under test, with version and fault knobs. "
        "Every flag can also be set by the environment variable named in its help; "
        "the flag wins.",
    )
    add = p.add_argument
    add("--version", help=f"release shown everywhere and sent as X-Version "
        f"(env CROC_VERSION, then WORKFLOW_RELEASE; default {DEFAULT_VERSION})")
    add("--commit", help="commit shown on the page (env GIT_SHA; default unknown)")
    add("--powered-by", help=f"'powered by' on the page (env POWERED_BY; default {DEFAULT_POWERED_BY})")
    add("--error-rate", help="share 0..1 of app requests answered 500 (env CROC_ERROR_RATE)")
    add("--latency-ms", help="latency added to app requests, ms (env CROC_LATENCY_MS)")
    add("--crash-after", help="exit with code 3 after N app requests, 0 = never (env CROC_CRASH_AFTER)")
    add("--never-ready", action=argparse.BooleanOptionalAction, default=None,
        help="/healthz answers 503 forever (env CROC_NEVER_READY=1)")
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", default="8080", help="port to bind, 0 = the OS picks (default 8080)")
    add("--port-file", help="after binding, write the actual port to this file (atomically)")
    add("--seed", help="seed of the error-rate random generator (default: unseeded)")
    return p


def _pick(flag: str | None, env: Mapping[str, str], *names: str) -> tuple[str | None, str]:
    """The raw value and where it came from: the flag, else the first env var set."""
    if flag is not None:
        return flag, "flag"
    for name in names:
        if name in env:
            return env[name], f"env {name}"
    return None, ""


def _number(raw: str | None, source: str, knob: str, kind: type, default: float | int):
    if raw is None:
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise KnobError(f"--{knob} must be {what}, got {raw!r} (from {source})") from None
    if kind is float and not math.isfinite(value):
        raise KnobError(f"--{knob} must be a finite number, got {raw!r} (from {source})")
    return value


def parse_knobs(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Knobs:
    """Knobs from command-line flags and the environment (flag wins). Raises KnobError."""
    env = os.environ if env is None else env
    a = _parser().parse_args(argv)
    version, _ = _pick(a.version, env, "CROC_VERSION", "WORKFLOW_RELEASE")
    commit, _ = _pick(a.commit, env, "GIT_SHA")
    powered_by, _ = _pick(a.powered_by, env, "POWERED_BY")
    never_ready = a.never_ready
    if never_ready is None:
        raw = env.get("CROC_NEVER_READY", "").strip().lower()
        if raw not in _TRUE | _FALSE:
            raise KnobError(f"--never-ready: env CROC_NEVER_READY must be 1/0, true/false, "
                            f"yes/no or on/off, got {env['CROC_NEVER_READY']!r}")
        never_ready = raw in _TRUE

    def num(knob: str, kind: type, default, *names: str):
        raw, source = _pick(getattr(a, knob.replace("-", "_")), env, *names)
        return _number(raw, source, knob, kind, default)

    error_rate = num("error-rate", float, 0.0, "CROC_ERROR_RATE")
    latency_ms = num("latency-ms", float, 0.0, "CROC_LATENCY_MS")
    crash_after = num("crash-after", int, 0, "CROC_CRASH_AFTER")
    port = num("port", int, 8080)
    seed = num("seed", int, None)
    return Knobs(
        version=version if version is not None else DEFAULT_VERSION,
        commit=commit if commit is not None else "unknown",
        powered_by=powered_by if powered_by is not None else DEFAULT_POWERED_BY,
        error_rate=error_rate,
        latency_ms=latency_ms,
        crash_after=crash_after,
        never_ready=never_ready,
        host=a.host,
        port=port,
        port_file=a.port_file,
        seed=seed,
    )
