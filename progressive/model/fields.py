"""Typed reads of YAML mappings that collect problems by field path instead of raising.

The spec parsers (canary.py, virtualservice.py, application.py) read every field through a
`Fields` view: a getter returns the value, or None when the field is absent (with no default)
or wrong, in which case it has recorded `path: reason` in the shared `Problems`. So one pass
lists every problem of a document. A YAML null counts as absent, as in Kubernetes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from progressive.model.durations import DurationError, parse_duration

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_MAX = 63
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Problems:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")


def join(path: str, key: object) -> str:
    """`spec.analysis` + `stepWeight`; odd keys are quoted: `headers["x y"]`."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    text = str(key)
    if not _PLAIN_KEY.fullmatch(text):
        text = show(text)
        return f"{path}[{text}]" if path else text
    return f"{path}.{text}" if path else text


def show(value: Any, limit: int = 60) -> str:
    """A short, escaped rendering of a user's value for a message (never echoes raw bytes)."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif value is None:
        text = "null"
    else:
        text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 4] + ("...'" if isinstance(value, str) else "...")


def describe(value: Any) -> str:
    """What a wrong value is, in a user's words: `the string '10'`, `a list`."""
    if isinstance(value, bool):
        return f"{show(value)} (YAML reads yes/no/on/off/true/false as booleans; quote it)"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, (int, float)):
        return f"the number {show(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__}"


def name_problem(value: str, max_len: int = DNS_LABEL_MAX) -> str | None:
    """Why `value` is not a DNS-1123 label of at most `max_len` characters, or None."""
    if len(value) > max_len:
        return f"must be at most {max_len} characters, got {len(value)}"
    if not DNS_LABEL.fullmatch(value):
        return (
            "must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending "
            f"with a letter or digit), got {show(value)}"
        )
    return None


class Fields:
    """A mapping at a field path. `known` keys are read silently; others draw a warning."""

    def __init__(self, data: dict, path: str, problems: Problems, known: Iterable[str] | None):
        self.data = data
        self.path = path
        self.p = problems
        if known is not None:
            known = set(known)
            for key in data:
                if key not in known:
                    problems.warn(join(path, key), "unknown field, ignored")

    def at(self, *keys: object) -> str:
        path = self.path
        for key in keys:
            path = join(path, key)
        return path

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            self.p.error(self.at(key), "required")
        return value

    def str(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            self.p.error(self.at(key), f"must be a string, got {describe(value)}")
            return None
        if required and not value.strip():
            self.p.error(self.at(key), "must not be empty")
            return None
        return value

    def name(self, key: str, *, required: bool = False, default: str | None = None,
             max_len: int = DNS_LABEL_MAX) -> str | None:
        if not self.has(key):
            return self.str(key, required=required, default=default)
        value = self.str(key, required=required)
        if value is None:
            return None
        why = name_problem(value, max_len)
        if why:
            self.p.error(self.at(key), why)
            return None
        return value

    def int(self, key: str, *, required: bool = False, default: int | None = None,
            lo: int | None = None, hi: int | None = None) -> int | None:
        value = self._get(key, required)
        if value is None:
            return default
        return check_int(value, self.at(key), self.p, lo, hi)

    def number(self, key: str, *, required: bool = False, default: float | None = None,
               lo: float | None = None, hi: float | None = None) -> float | None:
        value = self._get(key, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.p.error(self.at(key), f"must be a number, got {describe(value)}")
            return None
        if value != value or value in (float("inf"), float("-inf")):
            self.p.error(self.at(key), f"must be a finite number, got {show(value)}")
            return None
        if not _in_range(value, lo, hi):
            self.p.error(self.at(key), _range_message(lo, hi, value))
            return None
        return float(value)

    def bool(self, key: str, *, default: bool = False) -> bool | None:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.p.error(self.at(key), f"must be true or false, got {describe(value)}")
            return None
        return value

    def duration(self, key: str, *, required: bool = False,
                 default: float | None = None) -> float | None:
        """A positive Go duration in seconds."""
        value = self._get(key, required)
        if value is None:
            return default
        return check_duration(value, self.at(key), self.p)

    def fields(self, key: str, known: Iterable[str] | None, *,
               required: bool = False) -> Fields | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.p.error(self.at(key), f"must be a mapping, got {describe(value)}")
            return None
        return Fields(value, self.at(key), self.p, known)

    def items(self, key: str, *, required: bool = False) -> list[tuple[str, Any]] | None:
        """(path, item) for a list field; None when absent or not a list."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            self.p.error(self.at(key), f"must be a list, got {describe(value)}")
            return None
        return [(f"{self.at(key)}[{i}]", item) for i, item in enumerate(value)]

    def str_list(self, key: str) -> tuple[str, ...] | None:
        """The strings of a list field: () when absent, None when wrong (recorded)."""
        if not self.has(key):
            return ()
        items = self.items(key)
        if items is None:
            return None
        out = []
        for path, item in items:
            if not isinstance(item, str) or not item.strip():
                self.p.error(path, f"must be a non-empty string, got {describe(item)}")
            else:
                out.append(item)
        return tuple(out) if len(out) == len(items) else None

    def mappings(self, key: str, known: Iterable[str] | None, *,
                 required: bool = False) -> Iterator[Fields]:
        """A `Fields` view for each mapping in a list field; other items are problems."""
        for path, item in self.items(key, required=required) or ():
            if not isinstance(item, dict):
                self.p.error(path, f"must be a mapping, got {describe(item)}")
                continue
            yield Fields(item, path, self.p, known)


def check_int(value: Any, path: str, p: Problems, lo: int | None, hi: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " (remove the quotes)" if isinstance(value, str) and value.strip().isdigit() else ""
        p.error(path, f"must be an integer, got {describe(value)}{hint}")
        return None
    if not _in_range(value, lo, hi):
        p.error(path, _range_message(lo, hi, value))
        return None
    return value


def check_duration(value: Any, path: str, p: Problems) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str):
        hint = ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            hint = f" (add a unit: {show(value)}s)"
        p.error(path, f"must be a duration such as 30s or 1m, got {describe(value)}{hint}")
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as e:
        p.error(path, str(e))
        return None
    if seconds <= 0:
        p.error(path, f"must be a positive duration, got {show(value)}")
        return None
    return seconds


def _in_range(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _range_message(lo: float | None, hi: float | None, value: float) -> str:
    if lo is not None and hi is not None:
        return f"must be between {num(lo)} and {num(hi)}, got {num(value)}"
    if lo is not None:
        return f"must be at least {num(lo)}, got {num(value)}"
    return f"must be at most {num(hi)}, got {num(value)}"


def num(value: float) -> str:
    """`10`, `99.5`: a number as a user wrote it (huge YAML integers are shortened)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return show(value, limit=24)
