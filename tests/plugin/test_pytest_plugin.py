"""The pytest plugin: options, markers, feature gating and the conformance report (pytester)."""

from __future__ import annotations

import pytest
import yaml

pytest_plugins = ["pytester"]

SUITE = """
import pytest

@pytest.mark.conformance("steps", "walks the steps", features=["canary"])
def test_steps():
    pass

@pytest.mark.conformance("split", "1% to the preview", features=["fixed-split"])
def test_split():
    assert False, "preview share 3.1% outside [0.64%, 1.41%]"

@pytest.mark.conformance("mirror", "copies traffic", features=["mirroring"], profile="extended")
def test_mirror():
    pass

@pytest.mark.conformance("skipped-here", "needs something", features=["canary"])
def test_skipped():
    pytest.skip("no Docker here")

def test_not_conformance():
    pass
"""


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    pytester.makepyfile(test_suite=SUITE)
    report = pytester.path / "out" / "conformance.yaml"
    result = pytester.runpytest_subprocess(f"--conformance-report={report}", "-p", "no:cacheprovider", *args)
    return result, yaml.safe_load(report.read_text())


def outcomes(report: dict) -> dict[str, str]:
    return {t["name"]: t["outcome"] for p in report["profiles"] for t in p["tests"]}


def test_options_are_in_one_group(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*progressive delivery conformance*", "*--platform*",
                                 "*--engine*", "*--time-scale*", "*--conformance-report*",
                                 "*--keep-env*", "*--supported-features*", "*--exempt-features*"])


def test_markers_are_declared(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.conformance(name, description*"])


def test_report_records_each_outcome_with_its_reason(pytester: pytest.Pytester):
    result, report = run(pytester)
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    assert outcomes(report) == {"steps": "passed", "split": "failed", "mirror": "passed",
                                "skipped-here": "skipped"}
    core = next(p for p in report["profiles"] if p["name"] == "core")
    assert core["result"] == "failure" and report["result"] == "failure"
    split = next(t for t in core["tests"] if t["name"] == "split")
    assert split["reason"].startswith("AssertionError: preview share 3.1%")
    assert core["features"]["fixed-split"] == "failed"
    assert report["implementation"]["engine"] == "bundled"
    assert report["timeScale"] == 0.1  # the local platform's default


def test_exempt_features_are_unsupported_not_passed(pytester: pytest.Pytester):
    result, report = run(pytester, "--exempt-features=fixed-split,mirroring")
    result.assert_outcomes(passed=2, skipped=3)
    got = outcomes(report)
    assert got["split"] == got["mirror"] == "unsupported"
    core = next(p for p in report["profiles"] if p["name"] == "core")
    assert core["result"] == "partial"  # one test skipped for another reason
    assert core["summary"] == {"passed": 1, "failed": 0, "skipped": 1, "unsupported": 1}


def test_supported_features_restrict_the_claim(pytester: pytest.Pytester):
    _, report = run(pytester, "--supported-features=canary")
    got = outcomes(report)
    assert got["split"] == "unsupported" and got["steps"] == "passed"


def test_time_scale_defaults_to_one_on_a_cluster(pytester: pytest.Pytester):
    _, report = run(pytester, "--platform=kind")
    assert report["timeScale"] == 1.0
    assert report["implementation"]["platform"] == "kind"


def test_a_subset_names_the_tests_it_left_out(pytester: pytest.Pytester):
    result, report = run(pytester, "-k", "steps or mirror")
    result.assert_outcomes(passed=2)
    assert report["deselected"] == ["skipped-here", "split"]  # no full conformance claim
    assert outcomes(report) == {"steps": "passed", "mirror": "passed"}


def test_a_full_run_has_no_deselected_entry(pytester: pytest.Pytester):
    _, report = run(pytester)
    assert "deselected" not in report


def test_the_rollout_fixtures_come_with_the_plugin(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    for line in ("*fixtures defined from progressive.testing.fixtures*", "rollout -- *",
                 "rollout_under_load -- *", "module_rollout [[]module scope[]] -- *"):
        result.stdout.fnmatch_lines([line])


def test_xdist_workers_report_through_the_controller(pytester: pytest.Pytester):
    result, report = run(pytester, "-n", "2", "-k", "not mirror")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    assert outcomes(report) == {"steps": "passed", "split": "failed", "skipped-here": "skipped"}
    assert report["deselected"] == ["mirror"]  # sent by each worker, named once
    split = next(t for p in report["profiles"] for t in p["tests"] if t["name"] == "split")
    assert split["reason"].startswith("AssertionError: preview share 3.1%")


def test_a_group_of_tests_keeps_its_node_ids_under_loadgroup(pytester: pytest.Pytester):
    pytester.makepyfile(test_grouped="""
import pytest

@pytest.mark.xdist_group("one-rollout")
@pytest.mark.conformance("first", "judged first", features=["canary"])
def test_first():
    pass

@pytest.mark.xdist_group("one-rollout")
@pytest.mark.conformance("second", "judged second", features=["canary"])
def test_second():
    pass
""")
    report_path = pytester.path / "out" / "conformance.yaml"
    result = pytester.runpytest_subprocess(f"--conformance-report={report_path}", "-n", "2",
                                           "--dist", "loadgroup", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    report = yaml.safe_load(report_path.read_text())
    assert {t["nodeid"] for p in report["profiles"] for t in p["tests"]} == {
        "test_grouped.py::test_first", "test_grouped.py::test_second"}


def test_a_crashed_worker_fails_the_report(pytester: pytest.Pytester):
    pytester.makepyfile(test_crash="""
import os
import pytest

@pytest.mark.conformance("dies", "takes its worker down", features=["canary"])
def test_dies():
    os._exit(1)

@pytest.mark.conformance("lives", "passes", features=["canary"])
def test_lives():
    pass
""")
    report_path = pytester.path / "out" / "conformance.yaml"
    pytester.runpytest_subprocess(f"--conformance-report={report_path}", "-n", "2",
                                  "-p", "no:cacheprovider")
    report = yaml.safe_load(report_path.read_text())
    assert report["result"] == "failure"
    assert outcomes(report)["lives"] == "passed"
    crashed = [t for p in report["profiles"] for t in p["tests"] if t["outcome"] == "failed"]
    assert [t["nodeid"] for t in crashed] == ["test_crash.py::test_dies"]
    assert "crashed" in crashed[0]["reason"]


RULED = """
import pytest

@pytest.mark.conformance("steps", "walks the steps", features=["canary"], rules=["4.11"])
def test_steps():
    pass

@pytest.mark.conformance("rollback", "rolls back", features=["canary"], rules=["4.9", "6.1"])
def test_rollback():
    assert False
"""


def test_report_maps_each_rule_to_its_tests_and_lists_the_gaps(pytester: pytest.Pytester):
    pytester.makepyfile(test_ruled=RULED)
    report_path = pytester.path / "conformance.yaml"
    pytester.runpytest_subprocess(f"--conformance-report={report_path}", "-p", "no:cacheprovider")
    report = yaml.safe_load(report_path.read_text())
    rows = {r["rule"]: r for r in report["coverage"]["rules"]}
    assert rows["4.11"]["tests"] == ["steps"] and rows["4.11"]["outcome"] == "passed"
    assert rows["6.1"]["tests"] == ["rollback"] and rows["6.1"]["outcome"] == "failed"
    assert "4.11" not in report["coverage"]["gaps"] and "10.1" in report["coverage"]["gaps"]
    tests = {t["name"]: t for p in report["profiles"] for t in p["tests"]}
    assert tests["rollback"]["rules"] == ["4.9", "6.1"]


def test_coverage_map_at_collection_runs_nothing(pytester: pytest.Pytester):
    pytester.makepyfile(test_ruled=RULED)
    out = pytester.path / "coverage.yaml"
    result = pytester.runpytest_subprocess("--collect-only", f"--coverage-map={out}")
    assert result.ret == 0
    coverage = yaml.safe_load(out.read_text())["coverage"]
    assert {r["rule"]: r["tests"] for r in coverage["rules"]}["4.9"] == ["rollback"]
    assert all("outcome" not in r for r in coverage["rules"])


def test_an_unknown_rule_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_bad="""
import pytest

@pytest.mark.conformance("x", "y", rules=["4.99"])
def test_x():
    pass
""")
    result = pytester.runpytest_subprocess("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown SEMANTICS rules ['4.99']" in result.stderr.str()


def test_an_unknown_engine_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--engine=nonesuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--engine 'nonesuch': choose one of bundled, flagger*"])
