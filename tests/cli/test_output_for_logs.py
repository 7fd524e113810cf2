"""Output for logs: piped or captured (a CI log), the CLI's tables never cut an identifier.

Outside a terminal rich assumes 80 columns and shortens the widest cells; every table the CLI
prints (preview, conformance, status, lint) goes through `cli_console`, which gives a pipe
the tables' full width. A terminal keeps rich's own width.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from progressive.commands.conformance import summary_table
from progressive.commands.output import cli_console
from progressive.commands.platform import workload_table
from progressive.commands.preview import split_table
from progressive.model import load_specs
from progressive.preview import DestinationShare

REPO = Path(__file__).resolve().parents[2]
LONG_HOST = "croc-hunter-jenkinsx-preview-pr-1234.jx-staging.svc.cluster.local"
LONG_TEST = "blue-green-iterations-rollback-when-the-analysis-fails-twice"
LONG_WORKLOAD = "jx-production/jx-production-croc-hunter-jenkinsx-primary"


def printed(renderable, **options) -> str:
    out = io.StringIO()
    cli_console(file=out, **options).print(renderable)
    return out.getvalue()


def preview_table():
    (vs,) = [d for d in load_specs(REPO / "fixtures/specs/seed-virtualservice-fixed.yaml")]
    shares = [DestinationShare(LONG_HOST, "v2", 1, 0.01, 270, 26437, (204, 330), (0.009, 0.012)),
              DestinationShare("croc-hunter-jenkinsx.jx-production.svc.cluster.local", "v1", 99,
                               0.99, 26167, 26437, (26107, 26233), (0.988, 0.991))]
    return split_table(vs, shares, 0.9999)


def conformance_table():
    test = {"name": LONG_TEST, "features": ["blue-green", "metrics-istio", "webhooks"],
            "outcome": "passed", "durationSeconds": 8.4}
    return summary_table({"result": "success", "profiles": [{"name": "core", "tests": [test]}]})


def status_table():
    return workload_table({LONG_WORKLOAD: {"version": "v1", "replicas": 2, "ready": 2,
                                           "ports": [8080]}})


def test_no_table_cuts_an_identifier_outside_a_terminal():
    for table, identifiers in ((preview_table(), [LONG_HOST]),
                               (conformance_table(), [LONG_TEST, "blue-green,metrics-istio,webhooks"]),
                               (status_table(), [LONG_WORKLOAD])):
        text = printed(table)
        assert "…" not in text, text
        for identifier in identifiers:
            assert identifier in text, text


def test_a_narrow_terminal_keeps_its_own_width():
    text = printed(preview_table(), force_terminal=True, color_system=None, width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert LONG_HOST not in text  # rich shortens it there, as a terminal user expects


def test_lint_piped_prints_its_table_whole():
    proc = subprocess.run([sys.executable, "-m", "progressive", "lint",
                           str(REPO / "fixtures/specs/seed-canary.yaml"), "--rps", "100"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode in (0, 1), proc.stderr
    assert "…" not in proc.stdout, proc.stdout
    assert "jx-production/jx-production-croc-hunter-jenkinsx" in proc.stdout
    assert "success >= 99%" in proc.stdout and "catches" in proc.stdout  # every column whole
