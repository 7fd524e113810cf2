"""Wait for a condition within a bound, never a fixed sleep.

    wait_until(lambda: gateway.serves(), timeout=10, what="the gateway to serve /healthz")

raises `WaitTimedOut` (a TimeoutError, and a UserError: exit 2 in the CLI, without a traceback)
naming what it waited for, how long, the last value or error seen, and what to try.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from progressive.errors import WaitTimedOut

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    poll: float = 0.05,
    max_poll: float = 0.5,
    hint: str | None = None,
) -> T:
    """Call `condition` until it returns a truthy value; return that value.

    Exceptions from `condition` count as "not yet" and the last one is reported on timeout.
    The poll interval grows from `poll` to `max_poll` so short waits stay responsive.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    delay = poll
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last = exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimedOut(what, timeout, last, hint)
        time.sleep(min(delay, remaining))
        delay = min(max_poll, delay * 1.5)
