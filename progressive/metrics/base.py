"""The MetricsProvider seam and its named errors.

A check that sees no data, NaN, an HTTP error or a timeout is a *failed* check (SEMANTICS.md
§4): providers raise these errors and the engine counts them; nothing passes silently.
"""

from __future__ import annotations

from typing import Protocol


class MetricsError(Exception):
    """Base of the provider's errors."""


class NoValues(MetricsError):
    """The query returned no series (or NaN)."""


class QueryFailed(MetricsError):
    """The server could not be reached, answered an error, or timed out."""


class MetricsProvider(Protocol):
    def run_query(self, promql: str) -> float:
        """Return the single value of an instant query; raise NoValues / QueryFailed."""

    def is_online(self) -> bool: ...
