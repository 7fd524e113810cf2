"""Shipper Application documents read into ApplicationSpec: steps, short forms, replicas."""

from __future__ import annotations

import pytest
from spec_docs import APPLICATION, DELETE, SPECS, changed, check

from progressive.model.application import SHORT_STEPS
from progressive.model.types import ApplicationSpec, ReleaseStep
from progressive.model.validate import load_spec


def parsed(doc):
    spec, problems, warnings = check(doc)
    assert problems == [], problems
    return spec, warnings


def test_fixture_steps():
    spec = load_spec(SPECS / "application-shipper.yaml", ApplicationSpec)
    assert (spec.name, spec.namespace, spec.replicas, spec.interval_s) == (
        "croc-hunter", "default", 3, 60)
    assert spec.steps == (
        ReleaseStep("staging", 100, 100, 100, 0),
        ReleaseStep("50/50", 100, 50, 100, 50),
        ReleaseStep("full on", 0, 0, 100, 100),
    )
    assert [spec.capacity(spec.replicas, s.contender_capacity) for s in spec.steps] == [3, 3, 3]


def test_named_short_form_equals_the_long_form():
    doc = changed(APPLICATION, spec__template__strategy__steps=["staging", "50/50", "full on"])
    long_form = parsed(APPLICATION)[0]
    assert parsed(doc)[0].steps == long_form.steps == tuple(SHORT_STEPS.values())


@pytest.mark.parametrize(
    ("changes", "replicas", "warning"),
    [
        ({}, 3, None),
        ({"spec__template__values": DELETE, "spec__template__replicaCount": 5}, 5, None),
        ({"spec__template__values": DELETE}, 1,
         "spec.template.values.replicaCount: not set; 1 replica assumed (the chart's own default "
         "is not read)"),
    ],
)
def test_replicas(changes, replicas, warning):
    spec, warnings = parsed(changed(APPLICATION, **changes))
    assert spec.replicas == replicas
    assert warnings == ([warning] if warning else [])


def test_interval_is_our_addition():
    doc = changed(APPLICATION, spec__template__strategy__interval="30s")
    assert parsed(doc)[0].interval_s == 30


def test_a_last_step_short_of_full_on_warns():
    doc = changed(APPLICATION, spec__template__strategy__steps=["staging", "50/50"])
    assert parsed(doc)[1] == ["spec.template.strategy.steps[1]: the last step leaves traffic on "
                              "the incumbent, so the release never completes"]


def test_every_step_problem_is_listed():
    doc = changed(APPLICATION, spec__template__strategy__steps=[
        {"name": "a", "capacity": {"incumbent": 101, "contender": -1},
         "traffic": {"incumbent": "50", "contender": 50.5}},
        "canary",
        7,
    ])
    assert check(doc)[1] == [
        "spec.template.strategy.steps[0].capacity.incumbent: must be between 0 and 100, got 101",
        "spec.template.strategy.steps[0].capacity.contender: must be between 0 and 100, got -1",
        "spec.template.strategy.steps[0].traffic.incumbent: must be an integer, got the string "
        "'50' (remove the quotes)",
        "spec.template.strategy.steps[0].traffic.contender: must be an integer, got the number "
        "50.5",
        "spec.template.strategy.steps[1]: unknown named step 'canary' (named steps: staging, "
        "50/50, full on; or give name, capacity and traffic)",
        "spec.template.strategy.steps[2]: must be a mapping (name, capacity, traffic) or a named "
        "step, got the number 7",
    ]
