"""Shared Given / When / Then steps of the conformance suites (fixtures in conftest.py).

The suites are black-box: they set a spec on the engine under test, deploy revisions, and
observe the router's live weights (`platform.router().get_routes`), the traffic on the wire
(Locust records) and the engine's reported status and events. Every wait bound is computed
from the spec (progressive.engine.bounds) and the time scale; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from load.recording import failure_count, version_counts
from load.timeline import WeightTimeline, join, observed_sequence
from progressive.model import load_specs
from progressive.model.types import CanarySpec
from progressive.stats import DEFAULT_ALPHA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "specs"
LOAD_RPS = 150  # enough requests per step for the share test, light enough for 2 cores
LOAD_USERS = 15
PROPAGATION_GUARD_S = 0.25  # requests this close to a weight change are not attributed to a step


def load_spec(name: str, namespace: str, **changes):
    """A fixture spec moved into the test's own namespace (plus any field changes)."""
    (spec,) = load_specs(FIXTURES / name)
    spec = dataclasses.replace(spec, namespace=namespace, **changes)
    return spec


def attach_json(name: str, body) -> None:
    try:
        import allure

        allure.attach(json.dumps(body, indent=1, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)
    except ImportError:
        pass


class Observation:
    """What a rollout under load looked like from outside."""

    def __init__(self, spec: CanarySpec, timeline: WeightTimeline, run, status, events):
        self.spec = spec
        self.timeline = timeline
        self.run = run
        self.status = status
        self.events = events

    @property
    def records(self):
        return self.run.records

    def weights_seen(self) -> list[int]:
        return observed_sequence(self.timeline)

    def step_shares(self, canary_version: str, alpha: float = DEFAULT_ALPHA):
        return join(self.timeline, self.records, canary_version=canary_version,
                    guard_s=PROPAGATION_GUARD_S, alpha=alpha)

    def failures(self) -> int:
        return failure_count(self.records)

    def versions(self) -> dict[str, int]:
        return version_counts(self.records)
