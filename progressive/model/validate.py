"""Spec files -> typed models, with every problem of every document listed by field path.

The entry points for the rest of the project (CLI, engine runners, suites):
- `load_specs(path)` -> list of specs, or InvalidSpec listing all problems of all documents;
- `load_spec(path, expected)` -> the one spec of a file, of the expected type;
- `validate_file(path)` / `validate_text(text, name)` -> a Report (never raises for content);
- `parse_document(doc, where)` -> one spec from an already loaded mapping.
A document is named in messages as `file.yaml (Canary croc-hunter)`, or `file.yaml[1] (...)`
when the file holds several documents. Unknown fields are warnings, not problems.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from progressive.errors import InvalidSpec, UserError
from progressive.model import application, canary, virtualservice
from progressive.model.durations import format_duration
from progressive.model.fields import Fields, Problems, describe, show
from progressive.model.load import LoadedFile, load_source, load_text
from progressive.model.types import (
    ApplicationSpec,
    CanarySpec,
    Spec,
    Strategy,
    VirtualServiceSpec,
)

SUPPORTED = {
    "Canary": (canary.OLD_FORMS + canary.CURRENT_FORMS, canary.parse_canary, canary.SPEC_KEYS),
    "VirtualService": (
        ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1"),
        virtualservice.parse_virtual_service,
        virtualservice.SPEC_KEYS,
    ),
    "Application": (("shipper.booking.com/v1alpha1",), application.parse_application,
                    application.SPEC_KEYS),
}
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass
class DocumentReport:
    location: str  # `file.yaml[1]`
    spec: Spec | None = None
    problems: list[str] = field(default_factory=list)  # `field.path: reason`
    warnings: list[str] = field(default_factory=list)
    label: str = ""  # ` (Canary croc-hunter)`

    @property
    def where(self) -> str:
        return self.location + self.label

    @property
    def ok(self) -> bool:
        return not self.problems and self.spec is not None


@dataclass
class Report:
    source: str
    problems: list[str] = field(default_factory=list)  # about the file as a whole
    documents: list[DocumentReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(d.ok for d in self.documents) and bool(self.documents)

    @property
    def specs(self) -> list[Spec]:
        return [d.spec for d in self.documents if d.spec is not None]

    def problem_lines(self) -> list[str]:
        return self.problems + [f"{d.where}: {p}" for d in self.documents for p in d.problems]

    def warning_lines(self) -> list[str]:
        return [f"{d.where}: {w}" for d in self.documents for w in d.warnings]


def supported_kinds() -> str:
    """`Canary (flagger.app/v1alpha1, ...), VirtualService (...), ...` for messages and help."""
    return "; ".join(f"{kind} ({', '.join(versions)})"
                     for kind, (versions, _, _) in SUPPORTED.items())


def check_document(doc: Any, where: str) -> DocumentReport:
    """Validate one loaded document; problems and warnings are recorded, never raised."""
    p = Problems()
    report = DocumentReport(location=where)
    if not isinstance(doc, dict):
        p.error("(document)", f"must be a mapping (apiVersion, kind, metadata, spec), "
                f"got {describe(doc)}")
        report.problems = p.errors
        return report
    top = Fields(doc, "", p, _TOP_KEYS)
    api_version = top.str("apiVersion", required=True)
    kind = top.str("kind", required=True)
    meta = top.fields("metadata", None, required=True)
    name = namespace = None
    if meta is not None:
        name = meta.name("name", required=True)
        namespace = meta.name("namespace", default="default")
    parser = spec_keys = None
    if kind is not None and kind not in SUPPORTED:
        p.error("kind", f"{show(kind)} is not supported; supported: {supported_kinds()}")
    elif kind is not None and api_version is not None:
        versions, parser, spec_keys = SUPPORTED[kind]
        if api_version not in versions:
            p.error("apiVersion", f"{show(api_version)} is not supported for {kind}; "
                    f"supported: {', '.join(versions)}")
            parser = None
    spec_fields = top.fields("spec", spec_keys, required=True)
    if parser is not None and spec_fields is not None:
        report.spec = parser(spec_fields, api_version, name, namespace)
    report.problems, report.warnings = p.errors, p.warnings
    if report.problems:
        report.spec = None
    return report


def parse_document(doc: dict, where: str) -> Spec:
    """One spec from a loaded mapping; raises InvalidSpec(where, problems)."""
    report = check_document(doc, where)
    if not report.ok:
        raise InvalidSpec(where, report.problems)
    return report.spec


def validate_file(path: str | os.PathLike) -> Report:
    """Every document of the file checked; UserError only if the file cannot be read."""
    return _report(load_source(path))


def validate_text(text: str | bytes, name: str = "<text>") -> Report:
    """As validate_file, for YAML given as text (str) or file content (bytes)."""
    if isinstance(text, bytes):
        return _report(load_source(text, name))
    return _report(load_text(text, name))


def load_specs(path: str | os.PathLike) -> list[Spec]:
    """All specs of a file; raises InvalidSpec with every problem of every document."""
    report = validate_file(path)
    if not report.ok:
        raise InvalidSpec(str(path), report.problem_lines())
    return report.specs


def load_spec(path: str | os.PathLike, expected: type | None = None) -> Spec:
    """The single spec of a file (of type `expected` when given); UserError otherwise."""
    specs = load_specs(path)
    if expected is not None:
        specs = [s for s in specs if isinstance(s, expected)]
    if len(specs) != 1:
        what = expected.__name__.removesuffix("Spec") if expected else "spec"
        raise UserError(f"{path}: expected exactly one {what} document, found {len(specs)}")
    return specs[0]


def summarize(spec: Spec) -> str:
    """One line for `progressive validate`: what the document will do."""
    if isinstance(spec, CanarySpec):
        a = spec.analysis
        head = f"Canary {spec.namespace}/{spec.name}, {a.strategy.value} strategy"
        if a.strategy is Strategy.CANARY:
            seq = a.weight_sequence()
            head += f", {len(seq)} steps: {','.join(map(str, seq))}"
        else:
            head += f", {a.iterations} iterations"
        if a.match:
            head += f", match on {', '.join(h.name for m in a.match for h in m.headers) or 'uri'}"
        if a.mirror:
            head += ", mirrored"
        return head + f", every {format_duration(a.interval_s)}, threshold {a.threshold}"
    if isinstance(spec, VirtualServiceSpec):
        n = len(spec.http)
        return (f"VirtualService {spec.namespace}/{spec.name}, {n} HTTP route{'s' * (n != 1)}, "
                f"weights {virtualservice.describe_weights(spec)}")
    if isinstance(spec, ApplicationSpec):
        return (f"Application {spec.namespace}/{spec.name}, {spec.replicas} replicas, "
                f"{len(spec.steps)} steps: {', '.join(s.name for s in spec.steps)}")
    return type(spec).__name__


def _report(loaded: LoadedFile) -> Report:
    report = Report(source=loaded.source, problems=list(loaded.problems))
    several = len(loaded.documents) > 1
    for raw in loaded.documents:
        where = f"{loaded.source}[{raw.index}]" if several else loaded.source
        if raw.problems:
            report.documents.append(DocumentReport(where, None, raw.problems, raw.warnings))
            continue
        doc = check_document(raw.data, where)
        doc.label = _label(raw.data)
        doc.warnings = raw.warnings + doc.warnings
        report.documents.append(doc)
    return report


def _label(doc: Any) -> str:
    """` (Canary croc-hunter)` from a document's kind and name, when they are plain text."""
    if not isinstance(doc, dict):
        return ""
    kind, meta = doc.get("kind"), doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    parts = []
    if isinstance(kind, str) and _PLAIN_NAME.fullmatch(kind):
        parts.append(kind)
    if isinstance(name, str) and name:
        parts.append(name if _PLAIN_NAME.fullmatch(name) else show(name, limit=40))
    return f" ({' '.join(parts)})" if parts else ""
