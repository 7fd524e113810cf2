"""Load for one CLI rollout: Locust through the gateway for a block, and what it saw.

Used by progressive/rollout.py (`progressive rollout --rps N`): `drive` runs Locust at `rps`
with one user per 10 req/s (at most MAX_USERS), its pids and records in a temp dir under the
state dir, and fails as a UserError when Locust does not send a first request within
LOAD_START_TIMEOUT_S; `summarise` turns the per-request records into the verdict's counts.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from progressive.errors import UserError
from progressive.load.recording import is_failure
from progressive.load.traffic import LoadError, TrafficRun, traffic

LOAD_START_TIMEOUT_S = 60.0  # Locust's first request (Python + gevent start-up)
USERS_PER_RPS = 0.1  # 10 req/s per Locust user, at most MAX_USERS users
MAX_USERS = 50


@dataclass
class Traffic:
    """What the load saw: every request, and those that failed (is_failure)."""

    requests: int = 0
    failed: int = 0
    failed_not_new: int = 0  # failed requests not answered by the new revision
    first_failure_of_new: float | None = None  # start time of the first failed new request
    last_answer_of_new: float | None = None  # completion time of the last new-version answer


@contextmanager
def drive(gateway_url: str, rps: float, host: str | None, state_dir: Path,
          say: Callable[[str], None]) -> Iterator[TrafficRun | None]:
    """Locust through the gateway for the block (None when rps is 0)."""
    if rps <= 0:
        yield None
        return
    users = max(1, min(MAX_USERS, math.ceil(rps * USERS_PER_RPS)))
    workdir = Path(tempfile.mkdtemp(prefix="load-", dir=state_dir))
    try:
        say(f"load: {rps:g} req/s ({users} users) through {gateway_url}"
            + (f", Host {host}" if host else ""))
        with traffic(gateway_url, rps=rps, users=users, host_header=host,
                     workdir=workdir) as run:
            try:
                run.wait_for_requests(1, timeout=LOAD_START_TIMEOUT_S)
            except (LoadError, TimeoutError) as exc:
                raise UserError(f"the load did not start (Locust): {exc}") from None
            yield run
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def summarise(run: TrafficRun | None, new_version: str) -> Traffic | None:
    """Counts of `run`'s records, the new version's failures apart (None without load)."""
    if run is None:
        return None
    out = Traffic()
    for r in run.records:
        out.requests += 1
        if r.version == new_version:
            out.last_answer_of_new = max(r.t, out.last_answer_of_new or r.t)
        if not is_failure(r.status):
            continue
        out.failed += 1
        if r.version != new_version:
            out.failed_not_new += 1
        else:  # records are in completion order; a slow failure may have started earlier
            out.first_failure_of_new = min(r.started, out.first_failure_of_new or r.started)
    return out
