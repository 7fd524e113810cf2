"""Bytes on disk -> YAML documents, refusing what a user can feed by mistake.

Called by validate.py (and through it by the CLI and every spec reader). Refused with a clear
message, never a traceback: files over 5 MiB, binary or non-UTF-8 content, empty files, YAML
syntax errors (line and column), tabs used for indentation, documents that are not mappings,
anchors/aliases that expand past `MAX_NODES` (an alias bomb) or refer to themselves, and
nesting too deep to parse. Anchors and aliases themselves are fine. Empty documents in a
stream (a trailing `---`) are skipped, as kubectl does; indexes count every document.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from progressive.errors import InvalidSpec, UserError
from progressive.model.fields import describe

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000  # YAML nodes per document, counting every alias expansion
MAX_FLOW_DEPTH = 100  # [ and { nesting: PyYAML's scanner is quadratic in it
_BRACKETS = re.compile(r"[\[\]{}]")
_LEADING_TAB = re.compile(r"^[ ]*\t")


@dataclass
class RawDocument:
    index: int  # position in the stream
    line: int  # 1-based line of the document's start
    data: Any = None  # the document, when it loaded
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class LoadedFile:
    source: str  # how messages name the file
    documents: list[RawDocument] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the file as a whole


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, up to one byte past the limit; UserError if it cannot be read."""
    p = Path(path)
    try:
        if p.is_dir():
            raise UserError(f"{path}: is a directory, expected a YAML file")
        with p.open("rb") as f:
            return f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied (cannot read the file)") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror or e}") from None


def decode(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) or (None, why the bytes are not YAML text)."""
    if len(data) > MAX_BYTES:
        return None, f"file is larger than the {MAX_BYTES // (1024 * 1024)} MiB limit for a spec"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return None, "starts with a UTF-16 byte order mark but is not UTF-16 text"
    nul = data.find(b"\x00")
    if nul >= 0:
        return None, f"binary content (NUL byte at offset {nul}); expected YAML text"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as e:
        bad = data[e.start]
        return None, f"not UTF-8 text (byte 0x{bad:02x} at offset {e.start}); expected YAML text"


def load_text(text: str, source: str) -> LoadedFile:
    """Split `text` into documents; problems are recorded, never raised."""
    out = LoadedFile(source)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        out.problems.append(f"{source}: larger than the {MAX_BYTES // (1024 * 1024)} MiB limit")
        return out
    if not text.strip():
        out.problems.append(f"{source}: empty file (no YAML document)")
        return out
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        out.problems.append(f"{source}: nested too deeply to be a spec (more than "
                            f"{MAX_FLOW_DEPTH} levels of [ or {{)")
        return out
    loader = None
    index = 0
    try:
        loader = yaml.SafeLoader(text)
        while loader.check_node():
            node = loader.get_node()
            doc = RawDocument(index=index, line=node.start_mark.line + 1 if node else 1)
            index += 1
            if node is None:
                continue
            _check_node(node, doc)
            if not doc.problems:
                _construct(loader, node, doc)
            if doc.data is None and not doc.problems:
                continue  # an empty document such as `--- ~`
            out.documents.append(doc)
    except yaml.MarkedYAMLError as e:
        out.problems.append(f"{source}: {_syntax_message(e, text)}")
    except yaml.reader.ReaderError as e:
        before = text[: e.position]
        line, column = before.count("\n") + 1, e.position - (before.rfind("\n") + 1) + 1
        out.problems.append(
            f"{source}: line {line}, column {column}: control character #x{e.character:04x} is "
            "not allowed in YAML text (is this a binary file?)"
        )
    except yaml.YAMLError as e:
        out.problems.append(f"{source}: not valid YAML: {_one_line(str(e))}")
    except RecursionError:
        out.problems.append(f"{source}: nested too deeply to be a spec")
    finally:
        if loader is not None:
            loader.dispose()
    if not out.documents and not out.problems:
        out.problems.append(f"{source}: no YAML document (the file holds only comments or ---)")
    return out


def load_source(source: str | os.PathLike | bytes, name: str | None = None) -> LoadedFile:
    """A path (str or Path) is read from disk; bytes are file content."""
    if isinstance(source, bytes):
        label = name or "<bytes>"
        data = source
    else:
        label = name or str(source)
        data = read_bytes(source)
    text, why = decode(data)
    if text is None:
        return LoadedFile(label, problems=[f"{label}: {why}"])
    return load_text(text, label)


def load_documents(path_or_text: str | os.PathLike | bytes, name: str | None = None
                   ) -> list[dict]:
    """Every document of a YAML file as a mapping; raises InvalidSpec listing all problems.

    A `Path` is read from disk, and so is a one-line `str` that names an existing file or ends
    in .yaml / .yml; any other `str`, and `bytes`, are YAML text.
    """
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
        and (path_or_text.endswith((".yaml", ".yml")) or os.path.isfile(path_or_text))
    ):
        loaded = load_source(path_or_text, name)
    else:
        raw = path_or_text.encode("utf-8", "surrogatepass") if isinstance(path_or_text, str) \
            else path_or_text
        loaded = load_source(raw, name or "<text>")
    problems = list(loaded.problems)
    several = len(loaded.documents) > 1
    for doc in loaded.documents:
        where = f"{loaded.source}[{doc.index}]" if several else loaded.source
        problems += [f"{where}: {p}" for p in doc.problems]
    if problems:
        raise InvalidSpec(loaded.source, problems)
    return [doc.data for doc in loaded.documents]


def _flow_depth(text: str) -> int:
    """Deepest nesting of brackets, quotes and comments included (an upper bound)."""
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return 0
    depth = deepest = 0
    for ch in _BRACKETS.findall(text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def _construct(loader: yaml.SafeLoader, node: yaml.Node, doc: RawDocument) -> None:
    try:
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        loader.constructed_objects, loader.recursive_objects = {}, {}
        loader.state_generators, loader.deep_construct = [], False
        doc.problems.append(_marked(e))
        return
    if data is not None and not isinstance(data, dict):
        doc.problems.append(
            f"line {doc.line}: a document must be a mapping (apiVersion, kind, metadata, spec), "
            f"got {describe(data)}"
        )
        return
    doc.data = data


def _check_node(root: yaml.Node, doc: RawDocument) -> None:
    """Count the document's nodes with every alias expanded; refuse bombs and cycles."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        nid = id(node)
        kids = _children(node)
        if finished:
            open_nodes.discard(nid)
            size[nid] = 1 + sum(size[id(k)] for k in kids)
            if size[nid] > MAX_NODES:
                doc.problems.append(
                    f"line {doc.line}: the document expands to more than {MAX_NODES} values "
                    "through anchors and aliases (an alias bomb?); refusing to read it"
                )
                return
            continue
        if nid in size:
            continue
        if nid in open_nodes:
            mark = node.start_mark.line + 1
            doc.problems.append(f"line {mark}: an alias refers to a structure that contains it")
            return
        open_nodes.add(nid)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            _duplicate_keys(node, doc)
        stack.extend((k, False) for k in kids)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _duplicate_keys(node: yaml.MappingNode, doc: RawDocument) -> None:
    seen: set[str] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value != "<<":
            if key.value in seen:
                doc.warnings.append(
                    f"line {key.start_mark.line + 1}: key {key.value!r} appears more than once "
                    "in the same mapping; the last value is used"
                )
            seen.add(key.value)


def _syntax_message(e: yaml.MarkedYAMLError, text: str) -> str:
    mark = e.problem_mark or e.context_mark
    if mark is not None and "'\\t'" in (e.problem or ""):
        lines = text.splitlines()
        line = mark.line + 1
        if mark.line < len(lines) and _LEADING_TAB.match(lines[mark.line]):
            return (f"line {line}: a tab is used for indentation; YAML indentation must be "
                    "spaces")
        return f"line {line}, column {mark.column + 1}: a tab character where YAML expects spaces"
    return f"not valid YAML: {_marked(e)}"


def _marked(e: yaml.MarkedYAMLError) -> str:
    mark = e.problem_mark or e.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    what = e.problem or e.context or "syntax error"
    if e.context and e.problem:
        what = f"{e.problem} ({e.context})"
    return where + _one_line(what)


def _one_line(text: str) -> str:
    return " ".join(text.split())


