"""Per-request records: the line format, reading (whole or incremental), merging, summaries.

The Locust subprocess (`progressive/load/locustfile.py`) writes one line per request,
`t,status,latency_ms,version` (unix time at completion, HTTP status or 0 for a connection
error, latency in ms, the `X-Version` response header or ""); the version comes last so that
it may contain commas. `progressive.load.traffic` reads the files back while the run goes on; suites and
reports use the summaries (per-version counts, failures, the share of a version in a window,
per-second series for plots).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


def format_line(t: float, status: int, latency_ms: float, version: str) -> str:
    version = version.replace("\n", " ").replace("\r", " ")
    return f"{t:.6f},{status},{latency_ms:.3f},{version}\n"


def is_failure(status: int) -> bool:
    """Whether a recorded request failed: no answer (status 0: a connection error or a timeout)
    or a 5xx. The one failure predicate of the suites, `progressive preview` and the reports."""
    return status == 0 or status >= 500


@dataclass(frozen=True)
class Record:
    t: float
    version: str
    status: int
    latency_ms: float

    @property
    def started(self) -> float:
        return self.t - self.latency_ms / 1000.0


class Records:
    """Column store of records (compact arrays), in the order they were added."""

    __slots__ = ("t", "version", "status", "latency_ms")

    def __init__(self) -> None:
        self.t = array("d")
        self.version: list[str] = []
        self.status = array("i")
        self.latency_ms = array("d")

    @classmethod
    def from_rows(cls, rows: Iterable[Record | tuple[float, str, int, float]]) -> Records:
        out = cls()
        for row in rows:
            r = row if isinstance(row, Record) else Record(*row)
            out.append(r.t, r.version, r.status, r.latency_ms)
        return out

    def append(self, t: float, version: str, status: int, latency_ms: float) -> None:
        self.t.append(t)
        self.version.append(version)
        self.status.append(status)
        self.latency_ms.append(latency_ms)

    def extend(self, other: Records) -> None:
        self.t.extend(other.t)
        self.version.extend(other.version)
        self.status.extend(other.status)
        self.latency_ms.extend(other.latency_ms)

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, i: int) -> Record:
        return Record(self.t[i], self.version[i], self.status[i], self.latency_ms[i])

    def __iter__(self) -> Iterator[Record]:
        return map(Record, self.t, self.version, self.status, self.latency_ms)

    def _take(self, indices: Iterable[int]) -> Records:
        out = Records()
        for i in indices:
            out.append(self.t[i], self.version[i], self.status[i], self.latency_ms[i])
        return out

    def between(self, t0: float, t1: float) -> Records:
        """Records completed in [t0, t1)."""
        return self._take(i for i, t in enumerate(self.t) if t0 <= t < t1)

    def started_and_completed_within(self, t0: float, t1: float) -> Records:
        """Records whose whole request (start and completion) lies in [t0, t1]."""
        return self._take(
            i
            for i, t in enumerate(self.t)
            if t <= t1 and t - self.latency_ms[i] / 1000.0 >= t0
        )

    def sorted_by_time(self) -> Records:
        return self._take(sorted(range(len(self.t)), key=self.t.__getitem__))


class RecordFileReader:
    """Reads a record file incrementally: only complete lines, from where it stopped."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._versions: dict[str, str] = {}

    def read_new(self, into: Records) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n") + 1
        if end == 0:
            return 0
        self._offset += end
        return parse_lines(data[:end].decode("utf-8", errors="replace"), into, self._versions)


def parse_lines(text: str, into: Records, interned: dict[str, str] | None = None) -> int:
    """Append the records in `text` (complete lines) to `into`; return how many."""
    interned = {} if interned is None else interned
    n = 0
    for line in text.split("\n"):
        if not line:
            continue
        t, status, latency, version = line.split(",", 3)
        version = interned.setdefault(version, version)
        into.append(float(t), version, int(status), float(latency))
        n += 1
    return n


def read_record_file(path: Path) -> Records:
    out = Records()
    RecordFileReader(path).read_new(out)
    return out


def merge(parts: Iterable[Records]) -> Records:
    """One Records from several (e.g. one per Locust worker), ordered by completion time."""
    out = Records()
    for part in parts:
        out.extend(part)
    return out.sorted_by_time()


def read_records(paths: Iterable[Path]) -> Records:
    return merge(read_record_file(p) for p in paths)


# --- summaries ---------------------------------------------------------------------------


def version_counts(records: Records) -> dict[str, int]:
    return dict(Counter(records.version))


def status_counts(records: Records) -> dict[int, int]:
    return dict(Counter(records.status))


def failure_count(records: Records) -> int:
    return sum(1 for s in records.status if is_failure(s))


@dataclass(frozen=True)
class Share:
    """`k` of `n` requests answered by `version`."""

    version: str
    k: int
    n: int

    @property
    def share(self) -> float:
        return self.k / self.n if self.n else 0.0


def share(
    records: Records, version: str, t0: float | None = None, t1: float | None = None
) -> Share:
    """Share of `version` among the records completed in [t0, t1) (whole run by default)."""
    window = records
    if t0 is not None or t1 is not None:
        window = records.between(
            float("-inf") if t0 is None else t0, float("inf") if t1 is None else t1
        )
    return Share(version, sum(1 for v in window.version if v == version), len(window))


@dataclass
class Second:
    """Requests completed in the second starting at `t` (unix time, whole seconds)."""

    t: int
    n: int = 0
    failures: int = 0
    versions: dict[str, int] = field(default_factory=dict)

    def share(self, version: str) -> float:
        return self.versions.get(version, 0) / self.n if self.n else 0.0


def per_second(records: Records) -> list[Second]:
    """One entry per second from the first record to the last, empty seconds included."""
    if not records:
        return []
    first, last = int(min(records.t)), int(max(records.t))
    seconds = [Second(first + i) for i in range(last - first + 1)]
    for t, version, status in zip(records.t, records.version, records.status, strict=True):
        s = seconds[int(t) - first]
        s.n += 1
        s.failures += is_failure(status)
        s.versions[version] = s.versions.get(version, 0) + 1
    return seconds
