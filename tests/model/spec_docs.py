"""Valid documents as Python data, for tests that change one field and look at the outcome."""

from __future__ import annotations

import copy
from pathlib import Path

from progressive.model.validate import check_document

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "fixtures" / "specs"
BAD = REPO / "fixtures" / "bad"

CANARY = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "croc-hunter", "namespace": "default"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "croc-hunter"},
        "service": {"port": 8080},
        "analysis": {
            "interval": "15s",
            "threshold": 5,
            "maxWeight": 50,
            "stepWeight": 10,
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "30s"},
            ],
        },
    },
}

OLD_CANARY = copy.deepcopy(CANARY)
OLD_CANARY["apiVersion"] = "flagger.app/v1alpha2"
OLD_CANARY["spec"]["canaryAnalysis"] = OLD_CANARY["spec"].pop("analysis")
OLD_CANARY["spec"]["canaryAnalysis"]["metrics"] = [
    {"name": "istio_requests_total", "threshold": 99, "interval": "1m"},
    {"name": "istio_request_duration_seconds_bucket", "threshold": 500, "interval": "30s"},
]

VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1beta1",
    "kind": "VirtualService",
    "metadata": {"name": "croc-hunter-jenkinsx", "namespace": "jx-production"},
    "spec": {
        "hosts": ["croc-hunter.istio.example.com"],
        "http": [{"route": [
            {"destination": {"host": "croc-hunter-jenkinsx.jx-production.svc.cluster.local",
                             "port": {"number": 80}}, "weight": 99},
            {"destination": {"host": "croc-hunter-jenkinsx.jx-pr-35.svc.cluster.local",
                             "port": {"number": 80}}, "weight": 1},
        ]}],
    },
}

APPLICATION = {
    "apiVersion": "shipper.booking.com/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "croc-hunter", "namespace": "default"},
    "spec": {"template": {
        "values": {"replicaCount": 3},
        "strategy": {"steps": [
            {"name": "staging", "capacity": {"incumbent": 100, "contender": 100},
             "traffic": {"incumbent": 100, "contender": 0}},
            {"name": "50/50", "capacity": {"incumbent": 100, "contender": 100},
             "traffic": {"incumbent": 50, "contender": 50}},
            {"name": "full on", "capacity": {"incumbent": 0, "contender": 100},
             "traffic": {"incumbent": 0, "contender": 100}},
        ]},
    }},
}

DELETE = object()


def changed(base: dict, **changes: object) -> dict:
    """A deep copy of `base` with dotted paths (`spec__analysis__stepWeight`) set or deleted.

    Keys use `__` for dots, and a number segment is a list index: `spec__http__0__route`.
    """
    doc = copy.deepcopy(base)
    for dotted, value in changes.items():
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split("__")]
        node = doc
        for part in parts[:-1]:
            node = node[part]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return doc


def check(doc: dict):
    """(spec or None, problems, warnings) for one document."""
    report = check_document(doc, "test.yaml")
    return report.spec, report.problems, report.warnings


def run_validate(*args: object) -> tuple[int, str, str]:
    """`validate ARGS` on a Typer app of its own, in-process: (exit code, stdout, stderr).

    Maps the outcome as progressive/cli.py does (a UserError is its message on stderr and
    exit 2), without importing the other commands.
    """
    import typer
    from typer.testing import CliRunner

    from progressive.commands.validate import register
    from progressive.errors import UserError

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps `validate` a subcommand
        pass

    result = CliRunner().invoke(app, ["validate", *map(str, args)])
    if isinstance(result.exception, UserError):
        return result.exception.exit_code, result.stdout, f"{result.stderr}error: " \
                                                          f"{result.exception}\n"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
