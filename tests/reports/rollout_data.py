"""Rollout data with known shares for the report tests: no randomness, exact shares."""

from __future__ import annotations

from progressive.load.recording import Records
from progressive.load.timeline import WeightStep

T0 = 1_700_000_000.0
STEP_S = 2.0
RPS = 250


def rollout(weights: list[int], served: dict[int, int] | None = None) -> tuple[list[WeightStep], Records]:
    """A weight timeline and records in which step i's traffic follows `served[i]` (percent,
    default its weight), spread evenly (request j of a step goes to the canary when
    (j * w) mod 100 < w): the observed share is exact, no randomness."""
    served = served or {}
    steps, records = [], Records()
    for i, w in enumerate(weights):
        start = T0 + i * STEP_S
        steps.append(WeightStep(100 - w, w, start, start + STEP_S - 0.01))
        share = served.get(i, w)
        for j in range(int(RPS * STEP_S)):
            version = "v2" if (j * share) % 100 < share else "v1"
            records.append(start + (j + 0.5) / RPS, version, 200, 1.0)
    return steps, records
