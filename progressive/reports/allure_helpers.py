"""Allure extras the harness writes itself (allure-pytest does not): environment.properties,
categories.json, and attachments of files, directories and plots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import allure
import allure_commons

CATEGORIES = [
    {"name": "Unsupported features", "matchedStatuses": ["skipped"], "messageRegex": ".*unsupported:.*"},
    {"name": "Traffic share out of bounds", "matchedStatuses": ["failed"], "messageRegex": ".*(share|split).*"},
    {"name": "Rollout behaviour", "matchedStatuses": ["failed"], "messageRegex": ".*(phase|weight|rollback|promot).*"},
    {"name": "Failed requests", "matchedStatuses": ["failed"], "messageRegex": ".*failed request.*"},
    {"name": "Timeouts", "matchedStatuses": ["failed", "broken"], "messageRegex": ".*(timed out|Timeout).*"},
    {"name": "Harness errors", "matchedStatuses": ["broken"]},
]


def write_environment(alluredir: Path, settings: dict, versions: dict) -> None:
    """Write what allure-pytest never writes: `environment.properties` (engine, platform, time
    scale, versions) and `categories.json`. Called once per session, not on xdist workers."""
    alluredir.mkdir(parents=True, exist_ok=True)
    lines = [f"engine={settings.get('engine')}", f"platform={settings.get('platform')}",
             f"time_scale={settings.get('time_scale')}"]
    lines += [f"{k}={v}" for k, v in sorted(versions.items())]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=1))


def attach_file(path: Path, name: str | None = None) -> None:
    """Attach one file to the running test, typed by its suffix (PNG, JSON, YAML, else text)."""
    path = Path(path)
    kind = {
        ".png": allure.attachment_type.PNG,
        ".json": allure.attachment_type.JSON,
        ".yaml": allure.attachment_type.YAML,
        ".yml": allure.attachment_type.YAML,
        ".jsonl": allure.attachment_type.TEXT,
        ".csv": allure.attachment_type.CSV,
    }.get(path.suffix, allure.attachment_type.TEXT)
    allure.attach.file(str(path), name=name or path.name, attachment_type=kind)


def attach_dir(path: Path) -> None:
    """Attach a file, or the first 50 files under a directory (a failed test's diagnostics),
    each named by its path below the directory's parent."""
    path = Path(path)
    if path.is_file():
        attach_file(path)
        return
    for f in sorted(p for p in path.rglob("*") if p.is_file())[:50]:
        attach_file(f, name=str(f.relative_to(path.parent)))


def attach_text(body: str, name: str) -> None:
    """Attach a plain-text body (an event log, a PromQL result) to the running test."""
    allure.attach(body, name=name, attachment_type=allure.attachment_type.TEXT)


class AttachmentNames:
    """The name of every Allure attachment, per running test (allure_commons' attach hooks, so
    attachments made through `allure.attach` directly count too): the conformance report names
    each test's attachments."""

    def __init__(self) -> None:
        self.by_test: dict[str, list[str]] = {}

    @allure_commons.hookimpl
    def attach_data(self, body, name, attachment_type, extension) -> None:
        self._add(name)

    @allure_commons.hookimpl
    def attach_file(self, source, name, attachment_type, extension) -> None:
        self._add(name or Path(source).name)

    def _add(self, name: str) -> None:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" (")[0]
        if test and name:
            names = self.by_test.setdefault(test, [])
            if name not in names:
                names.append(name)

    def of(self, nodeid: str) -> list[str]:
        return list(self.by_test.get(nodeid, []))
