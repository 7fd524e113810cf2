"""Go-style durations (`15s`, `1m30s`, `500ms`, `1h`) as seconds.

Flagger, Istio and Shipper all write durations the way Go's `time.ParseDuration` reads them;
the spec parsers call `parse_duration` so that a value that does not parse is an error (never
a silent default). A bare number has no unit and is refused, except `0`, as in Go.
"""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)([a-z\u00b5\u03bc]+)")
_MAX_SECONDS = (2**63 - 1) / 1e9  # Go's limit: about 292 years


class DurationError(ValueError):
    """The text is not a Go duration; the message says why in a user's words."""


def parse_duration(text: str) -> float:
    """Seconds for a Go duration string; raises DurationError."""
    s = text.strip()
    if not s:
        raise DurationError("empty duration")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            if re.fullmatch(r"\d+\.?\d*|\.\d+", s[pos:]):
                raise DurationError(f"missing unit in duration {text!r} (use s, m or h, e.g. 30s)")
            raise DurationError(f"invalid duration {text!r} (examples: 30s, 1m, 1m30s, 500ms)")
        number, unit = m.groups()
        if unit not in _UNITS:
            raise DurationError(
                f"unknown unit {unit!r} in duration {text!r} (units: ns, us, ms, s, m, h)"
            )
        total += float(number) * _UNITS[unit]
        pos = m.end()
    if total > _MAX_SECONDS:
        raise DurationError(f"duration {text!r} is too large")
    return sign * total


def format_duration(seconds: float) -> str:
    """A short Go-style rendering (`1m30s`, `500ms`) for messages and summaries."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out
