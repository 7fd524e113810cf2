"""`progressive lint`: exit codes, what it prints, and the JSON it writes (in-process CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from progressive.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEED_FILE = ROOT / "fixtures" / "specs" / "seed-canary.yaml"


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["lint", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


class TestExitCodes:
    def test_seed_at_one_request_per_second_is_flagged(self, capsys):
        code, out, err = run(capsys, SEED_FILE, "--rps", 1)
        assert code == 1
        assert "FLAGGED" in out and "promoted anyway" in out
        assert "sees no request with probability 22.3%" in " ".join(out.split())
        assert "lint flagged jx-production/jx-production-croc-hunter-jenkinsx" in err

    def test_seed_at_hundred_requests_per_second_passes(self, capsys):
        code, out, _ = run(capsys, SEED_FILE, "--rps", 100)
        assert code == 0
        assert "OK" in out

    def test_limits_are_flags(self, capsys):
        code, _, _ = run(capsys, SEED_FILE, "--rps", 1, "--max-bad-promotion", 0.9)
        assert code == 0

    def test_invalid_spec(self, capsys):
        code, _, err = run(capsys, ROOT / "fixtures" / "bad" / "canary-maxweight-over.yaml",
                           "--rps", 10)
        assert code == 2
        assert "spec.analysis.maxWeight" in err

    def test_missing_file(self, capsys, tmp_path):
        code, _, err = run(capsys, tmp_path / "nope.yaml", "--rps", 10)
        assert code == 2 and "no such file" in err

    def test_no_canary_in_the_file(self, capsys):
        code, _, err = run(capsys, ROOT / "fixtures" / "specs" / "seed-virtualservice.yaml",
                           "--rps", 10)
        assert code == 2 and "no Canary" in err

    @pytest.mark.parametrize("option", [("--error-rate", "2"), ("--time-scale", "0")])
    def test_bad_option(self, capsys, option):
        code, _, _ = run(capsys, SEED_FILE, "--rps", 10, *option)
        assert code == 2

    def test_help(self, capsys):
        code, out, _ = run(capsys, "--help")
        assert code == 0 and "--rps" in out and "--json" in out


class TestJson:
    def test_schema(self, capsys, tmp_path):
        dest = tmp_path / "out" / "lint.json"
        code, _, _ = run(capsys, SEED_FILE, "--rps", 1, "--json", dest)
        doc = json.loads(dest.read_text())
        assert code == doc["exit_code"] == 1
        assert doc["schema"] == "progressive.lint/v1"
        assert doc["source"] == str(SEED_FILE)
        (report,) = doc["reports"]
        assert set(report) == {"name", "namespace", "strategy", "interval_s", "threshold",
                               "inputs", "steps", "good", "bad", "durations", "warnings",
                               "verdict"}
        assert report["verdict"]["ok"] is False and report["verdict"]["exit_code"] == 1
        assert report["verdict"]["reasons"]
        assert report["inputs"]["rps"] == 1.0 and report["inputs"]["bad_error_rate"] == 0.05
        assert [s["weight"] for s in report["steps"]] == [10, 20, 30, 40, 50]
        check_keys = {"name", "kind", "bound", "window_s", "expected_requests", "p_no_data_window",
                      "p_fail_good", "min_error_rate_caught", "p_no_data",
                      "expected_requests_held", "p_no_data_held"}
        for step in report["steps"]:
            assert set(step) == {"index", "label", "weight", "share", "tick", "canary_rps",
                                 "p_reached", "checks"}
            for check in step["checks"]:
                assert set(check) == check_keys
                assert 0.0 <= check["p_no_data"] <= check["p_no_data_window"] <= 1.0
        assert report["good"]["method"] == "exact" and report["good"]["p_rolled_back_95"] is None
        assert report["bad"]["method"] == "monte-carlo" and report["bad"]["runs"] > 0
        lo, hi = report["bad"]["p_promoted_95"]
        assert lo <= report["bad"]["p_promoted"] <= hi
        assert set(report["durations"]) == {"interval_s", "nominal_rollout_s",
                                            "earliest_rollback_s", "expected_bad_rollback_s"}
