"""The `progressive` pytest plugin: options, markers, fixtures and feature gating.

Loaded through the `pytest11` entry point. A conformance test declares itself with

    @pytest.mark.conformance("canary-stepping", "weights walk the spec's steps",
                             features=["canary"], rules=["4.11", "12.2"], profile="core")

`rules` are the numbers of the SEMANTICS.md rules it asserts (progressive/rules.py): the
conformance report maps each rule to its tests and lists the rules no test asserts.

A test whose features the platform or engine lacks (or that the user exempts) is skipped and
recorded as *unsupported* in the conformance report, never as passed or failed. On failure the
platform's diagnostics (logs, Envoy config, event log) are collected next to the report and
attached to the Allure result.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from progressive.platforms.base import Platform
from progressive.platforms.factory import PLATFORMS, platform_features
from progressive.rules import unknown as unknown_rules

if TYPE_CHECKING:
    from progressive.reports.allure_helpers import AttachmentNames

# The rollout fixtures of the public pytest API (progressive.testing), loaded with this plugin.
pytest_plugins = ("progressive.testing.fixtures",)

UNSUPPORTED_PREFIX = "unsupported:"
results_key = pytest.StashKey[dict]()
settings_key = pytest.StashKey[dict]()
deselected_key = pytest.StashKey[list]()
versions_key = pytest.StashKey[dict]()
attachments_key: pytest.StashKey[AttachmentNames] = pytest.StashKey()
# The conformance entry of a test, carried on its reports: xdist ships a report's extra
# attributes from a worker to the controller, which writes the report.
ENTRY_ATTR = "progressive_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("progressive", "progressive delivery conformance")
    group.addoption("--platform", default="local", choices=PLATFORMS,
                    help="platform to run on (default: local)")
    group.addoption("--engine", default="bundled",
                    help="rollout engine under test: bundled (default) or flagger")
    group.addoption("--time-scale", type=float, default=None,
                    help="multiply every duration of a spec by this factor "
                         "(default 0.1 on the local platform, 1 on a cluster)")
    group.addoption("--kubernetes-version", default=None, metavar="X.Y.Z",
                    help="k8s-local: run on this Kubernetes release instead of the pinned one "
                         "(built beside it by `progressive tools install --kubernetes-version X.Y.Z`)")
    group.addoption("--conformance-report", default=None, metavar="PATH",
                    help="write the conformance report (YAML) here")
    group.addoption("--coverage-map", default=None, metavar="PATH",
                    help="write the SEMANTICS rules -> conformance tests map of the collected "
                         "tests here (YAML; with --collect-only nothing runs)")
    group.addoption("--keep-env", action="store_true",
                    help="leave the platform running after the session")
    group.addoption("--supported-features", default=None, metavar="A,B",
                    help="restrict the features the implementation claims")
    group.addoption("--exempt-features", default="", metavar="A,B",
                    help="features to record as unsupported without running their tests")
    group.addoption("--progressive-state-dir", default=None, metavar="DIR",
                    help="state dir of the platform (default: a temporary dir)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance(name, description, features=(), rules=(), profile='core'): a conformance "
        "test; rules are SEMANTICS.md rule numbers (progressive/rules.py)",
    )
    config.addinivalue_line("markers", "integration: starts real Envoy/Prometheus/app processes")
    from progressive.engines import engine_names

    if config.getoption("--engine") not in engine_names():
        raise pytest.UsageError(f"--engine {config.getoption('--engine')!r}: choose one of "
                                f"{', '.join(engine_names())}")
    config.stash[results_key] = {}
    config.pluginmanager.register(_Collector(config), "progressive-collector")
    if getattr(config.option, "allure_report_dir", None):
        import allure_commons

        from progressive.reports.allure_helpers import AttachmentNames

        names = config.stash[attachments_key] = AttachmentNames()
        allure_commons.plugin_manager.register(names)
    config.stash[settings_key] = {
        "platform": config.getoption("--platform"),
        "engine": config.getoption("--engine"),
        "time_scale": _time_scale(config),
    }


def pytest_unconfigure(config: pytest.Config) -> None:
    names = config.stash.get(attachments_key, None)
    if names is not None:
        import allure_commons

        allure_commons.plugin_manager.unregister(names)


def _time_scale(config: pytest.Config) -> float:
    """--time-scale, else 0.1 on the machine's own platforms and 1 on a cluster. Flagger scales
    each spec no further down than its 10 s interval floor (engines/flagger.scale_for)."""
    given = config.getoption("--time-scale")
    if given is not None:
        return given
    return 0.1 if config.getoption("--platform") in ("local", "k8s-local") else 1.0


def _csv(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def _claimed_features(config: pytest.Config) -> set[str]:
    platform = platform_features(config.getoption("--platform"))
    claimed = (_csv(config.getoption("--supported-features")) or set(platform)) & platform
    engine = config.getoption("--engine")
    if engine == "flagger":
        from progressive.engines.flagger import unsupported_features

        claimed -= set(unsupported_features(config.getoption("--platform")))
    return claimed - _csv(config.getoption("--exempt-features"))


def conformance_info(item: pytest.Item) -> dict | None:
    marker = item.get_closest_marker("conformance")
    if marker is None:
        return None
    name = marker.args[0] if marker.args else marker.kwargs.get("name", item.name)
    description = marker.args[1] if len(marker.args) > 1 else marker.kwargs.get("description", "")
    return {
        "name": name,
        "description": description,
        "features": tuple(marker.kwargs.get("features", ())),
        "rules": tuple(marker.kwargs.get("rules", ())),
        "profile": marker.kwargs.get("profile", "core"),
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    claimed = _claimed_features(config)
    collected = []
    for item in items:
        info = conformance_info(item)
        if info is None:
            continue
        wrong = unknown_rules(info["rules"])
        if wrong:
            raise pytest.UsageError(f"{item.nodeid}: conformance marker names unknown SEMANTICS "
                                    f"rules {wrong} (progressive/rules.py lists them)")
        collected.append(info)
        missing = [f for f in info["features"] if f not in claimed]
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"{UNSUPPORTED_PREFIX} {', '.join(missing)}"))
    coverage_path = config.getoption("--coverage-map")
    if coverage_path and not hasattr(config, "workerinput"):
        from progressive.reports.coverage import write_coverage

        write_coverage(Path(coverage_path), collected)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Conformance tests left out by -k/-m: named in the report, which is then no full claim."""
    for item in items:
        info = conformance_info(item)
        if info is not None:
            item.config.stash.setdefault(deselected_key, []).append(info["name"])


def _nodeid(item: pytest.Item) -> str:
    """The test's node id, without the `@group` xdist's loadgroup appends to it."""
    group = item.get_closest_marker("xdist_group")
    suffix = f"@{group.args[0] if group.args else group.kwargs.get('name')}" if group else ""
    return item.nodeid.removesuffix(suffix) if suffix else item.nodeid


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    info = conformance_info(item)
    if info is None:
        return report
    entries = item.config.stash.setdefault(_entries_key, {})
    nodeid = _nodeid(item)
    entry = entries.setdefault(nodeid, {**info, "features": list(info["features"]),
                                        "nodeid": nodeid, "outcome": "passed"})
    if report.skipped:
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        entry["outcome"] = "unsupported" if reason.startswith(UNSUPPORTED_PREFIX) else "skipped"
        entry["reason"] = reason
    elif report.failed:
        entry["outcome"] = "failed"
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash else (report.longreprtext.splitlines() or [""])[-1]
        entry["reason"] = message.splitlines()[0] if message else ""
        if report.when == "call":
            _collect_diagnostics(item)
    entry["duration_s"] = round(entry.get("duration_s", 0.0) + report.duration, 3)
    attached = item.config.stash.get(attachments_key, None)
    if attached is not None and attached.of(item.nodeid):
        entry["attachments"] = attached.of(item.nodeid)
    setattr(report, ENTRY_ATTR, dict(entry))  # the entry so far, this phase included
    return report


_entries_key = pytest.StashKey[dict]()


class _Collector:
    """Gathers the conformance entries where the report is written: in the one pytest process,
    or on xdist's controller from every worker's reports (and their deselected tests and
    platform versions, sent at the end of each worker's session)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = getattr(report, ENTRY_ATTR, None)
        if entry is not None:
            self.config.stash[results_key][entry["nodeid"]] = entry
        elif report.failed and str(report.when) == "???":  # xdist: its worker crashed
            self.config.stash[results_key][report.nodeid] = {
                "name": report.nodeid, "description": "a test whose worker crashed",
                "features": [], "rules": [], "profile": "core", "nodeid": report.nodeid,
                "outcome": "failed", "reason": str(report.longrepr)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        out = getattr(node, "workeroutput", {})
        self.config.stash.setdefault(deselected_key, []).extend(out.get("progressive_deselected", []))
        if out.get("progressive_versions"):
            self.config.stash[versions_key] = out["progressive_versions"]


def _collect_diagnostics(item: pytest.Item) -> None:
    platform = getattr(item, "funcargs", {}).get("platform")
    if platform is None:
        return
    report_path = item.config.getoption("--conformance-report")
    base = Path(report_path).parent if report_path else Path(tempfile.gettempdir())
    dest = base / "diagnostics" / item.nodeid.replace("/", "_").replace("::", "__")
    try:
        files = platform.collect_diagnostics(dest)
    except Exception:  # noqa: BLE001 - diagnostics must never hide the real failure
        return
    from progressive.reports.allure_helpers import attach_dir

    for path in files:
        attach_dir(path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    platform = config.stash.get(_platform_key, None)
    versions = config.stash.get(versions_key, {})
    if platform is not None:
        try:
            versions = platform.versions()
        except Exception:  # noqa: BLE001
            versions = {}
    if hasattr(config, "workerinput"):  # an xdist worker: the controller writes the reports
        out = config.workeroutput  # type: ignore[attr-defined]  # set by xdist on workers
        out["progressive_deselected"] = config.stash.get(deselected_key, [])
        out["progressive_versions"] = versions
        return
    results = config.stash.get(results_key, {})
    report_path = config.getoption("--conformance-report")
    if report_path and results:
        from progressive.reports.conformance import write_report

        write_report(Path(report_path), results, config.stash[settings_key], versions,
                     deselected=config.stash.get(deselected_key, []))
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        from progressive.reports.allure_helpers import write_environment

        write_environment(Path(alluredir), config.stash[settings_key], versions)


_platform_key = pytest.StashKey[Platform]()


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def progressive_settings(pytestconfig: pytest.Config) -> dict:
    return pytestconfig.stash[settings_key]


@pytest.fixture(scope="session")
def time_scale(pytestconfig: pytest.Config) -> float:
    return _time_scale(pytestconfig)


@pytest.fixture(scope="session")
def as_run(pytestconfig: pytest.Config, time_scale: float):
    """`as_run(spec)`: the spec as the engine under test will run it, time-scaled (Flagger
    keeps its 10 s interval floor), for bounds needed before `engine.apply` sets `engine.spec`."""
    from progressive.engines import spec_as_run

    engine = pytestconfig.getoption("--engine")
    return lambda spec: spec_as_run(engine, spec, time_scale)


@pytest.fixture(scope="session")
def platform(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory):
    """The platform under test for the whole session (progressive/session.py): attached when
    `progressive up` runs one in --progressive-state-dir, else started, and stopped at the end
    unless --keep-env. An xdist worker given a state dir only attaches: workers sharing one
    platform must not each start (and stop) it; `progressive conformance --workers N` starts it
    before them."""
    from progressive.session import platform_session

    state = pytestconfig.getoption("--progressive-state-dir")
    state_dir = Path(state) if state else tmp_path_factory.mktemp("progressive-state")
    with platform_session(pytestconfig.getoption("--platform"), state_dir,
                          keep=pytestconfig.getoption("--keep-env"),
                          kubernetes_version=pytestconfig.getoption("--kubernetes-version"),
                          attach_only=bool(state) and hasattr(pytestconfig, "workerinput"),
                          ) as session:
        pytestconfig.stash[_platform_key] = session.platform
        yield session.platform


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of the test's own: workloads and routes of one test never meet another's."""
    base = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-").lower()
    return f"t-{base}"[:40].rstrip("-") + f"-{os.getpid() % 1000}"


@pytest.fixture
def engine(pytestconfig: pytest.Config, platform, tmp_path: Path, time_scale: float):
    """The rollout engine under test, bound to the session's platform."""
    from progressive.engines import make_engine

    eng = make_engine(pytestconfig.getoption("--engine"), platform, tmp_path, time_scale=time_scale)
    try:
        yield eng
    finally:
        eng.close()
