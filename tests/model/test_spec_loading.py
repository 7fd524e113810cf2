"""From bytes to YAML documents: what a user can feed the loader and what it answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from progressive.errors import InvalidSpec, UserError
from progressive.model.load import MAX_BYTES, load_documents, load_source, load_text


def problems_of(text: str) -> list[str]:
    loaded = load_text(text, "f.yaml")
    return loaded.problems + [p for d in loaded.documents for p in d.problems]


class TestAccepted:
    def test_several_documents_keep_their_stream_index(self):
        loaded = load_text("a: 1\n---\n---\nb: 2\n---\n", "f.yaml")
        assert [(d.index, d.data) for d in loaded.documents] == [(0, {"a": 1}), (2, {"b": 2})]
        assert loaded.problems == []

    def test_leading_document_marker_and_comments(self):
        assert load_documents("# a canary\n---\nkind: Canary\n") == [{"kind": "Canary"}]

    def test_anchors_aliases_and_merge_keys(self):
        text = (
            "base: &base {interval: 15s, threshold: 5}\n"
            "analysis:\n  <<: *base\n  stepWeight: 10\n"
            "hosts: &hosts [a.example.com]\nmore: *hosts\n"
        )
        [doc] = load_documents(text)
        assert doc["analysis"] == {"interval": "15s", "threshold": 5, "stepWeight": 10}
        assert doc["more"] == ["a.example.com"]

    def test_tabs_inside_quoted_and_block_scalars_are_content(self):
        [doc] = load_documents("a: |\n  x\ty\nb: 'p\tq'\n")
        assert doc == {"a": "x\ty\n", "b": "p\tq"}

    def test_utf8_bom_and_utf16(self):
        assert load_documents(b"\xef\xbb\xbfa: 1\n") == [{"a": 1}]
        assert load_documents("a: caf\u00e9\n".encode("utf-16")) == [{"a": "caf\u00e9"}]

    def test_duplicate_keys_warn_with_the_line(self):
        loaded = load_text("a: 1\nb: 2\na: 3\n", "f.yaml")
        assert loaded.documents[0].data == {"a": 3, "b": 2}
        assert loaded.documents[0].warnings == [
            "line 3: key 'a' appears more than once in the same mapping; the last value is used"
        ]

    def test_path_is_read_from_disk_and_text_is_text(self, tmp_path: Path):
        f = tmp_path / "c.yaml"
        f.write_text("kind: Canary\n")
        assert load_documents(f) == [{"kind": "Canary"}]
        assert load_documents(str(f)) == [{"kind": "Canary"}]
        assert load_documents("kind: Canary\n") == [{"kind": "Canary"}]
        assert load_documents("kind: Canary") == [{"kind": "Canary"}]
        with pytest.raises(UserError, match="no such file"):
            load_documents(str(tmp_path / "missing.yaml"))


class TestRefused:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "f.yaml: empty file (no YAML document)"),
            ("  \n\n   \n", "f.yaml: empty file (no YAML document)"),
            ("# nothing\n---\n", "f.yaml: no YAML document (the file holds only comments or ---)"),
            ("- a\n- b\n", "line 1: a document must be a mapping (apiVersion, kind, metadata, "
                           "spec), got a list"),
            ("just words\n", "got the string 'just words'"),
            ("a:\n\tb: 1\n", "f.yaml: line 2: a tab is used for indentation; YAML indentation "
                             "must be spaces"),
            ("a:\n  b: 1\n  \tc: 2\n", "f.yaml: line 3: a tab is used for indentation"),
            ("a: [1, 2\n", "f.yaml: not valid YAML: line 2, column 1: expected ',' or ']'"),
            ("a: b: c\n", "f.yaml: not valid YAML: line 1, column 5: mapping values are not "
                          "allowed here"),
            ("a: \x1b[31m\n", "f.yaml: line 1, column 4: control character #x001b is not "
                              "allowed in YAML text"),
            ("a: !!python/name:os.system x\n", "line 1, column 4: could not determine a "
                                               "constructor for the tag"),
            ("a: *nowhere\n", "found undefined alias"),
            ("a: &x [*x]\n", "line 1: an alias refers to a structure that contains it"),
            ("a: " + "[" * 3000, "f.yaml: nested too deeply to be a spec (more than 100 levels "
                                 "of [ or {)"),
            ("a:\n  " + "- " * 3000 + "x\n", "f.yaml: nested too deeply to be a spec"),
            ("a: 1\t# note\n", "f.yaml: line 1, column 5: a tab character where YAML expects "
                               "spaces"),
        ],
    )
    def test_message(self, text, message):
        found = problems_of(text)
        assert any(message in p for p in found), found

    def test_alias_bomb_is_refused_quickly(self):
        levels = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        for i in range(1, 9):
            levels.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
        [problem] = problems_of("\n".join(levels) + "\n")
        assert "expands to more than 100000 values through anchors and aliases" in problem

    def test_a_modest_use_of_aliases_is_not_a_bomb(self):
        text = "a: &a [1, 2, 3]\n" + "".join(f"k{i}: *a\n" for i in range(1000))
        assert problems_of(text) == []

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"\x00\x01\x02binary", "binary content (NUL byte at offset 0); expected YAML text"),
            (b"name: caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset 9); expected YAML text"),
            (b"\xff\xfea\x00:", "starts with a UTF-16 byte order mark but is not UTF-16 text"),
        ],
    )
    def test_bytes_that_are_not_text(self, data, message):
        loaded = load_source(data, "f.yaml")
        assert loaded.problems == [f"f.yaml: {message}"]

    def test_file_over_the_size_limit(self, tmp_path: Path):
        big = tmp_path / "big.yaml"
        line = b"# padding padding padding padding padding padding padding padding\n"
        with big.open("wb") as f:
            f.write(b"kind: Canary\n")
            f.write(line * (MAX_BYTES // len(line) + 1))
        loaded = load_source(big)
        assert loaded.problems == [f"{big}: file is larger than the 5 MiB limit for a spec"]

    def test_load_documents_raises_one_invalid_spec_with_every_problem(self):
        with pytest.raises(InvalidSpec) as info:
            load_documents("a: 1\n---\n- x\n---\n42\n", name="two-bad.yaml")
        assert info.value.problems == [
            "two-bad.yaml[1]: line 3: a document must be a mapping (apiVersion, kind, "
            "metadata, spec), got a list",
            "two-bad.yaml[2]: line 5: a document must be a mapping (apiVersion, kind, "
            "metadata, spec), got the number 42",
        ]

    def test_documents_before_a_syntax_error_are_kept(self):
        loaded = load_text("a: 1\n---\nb: [\n", "f.yaml")
        assert [d.data for d in loaded.documents] == [{"a": 1}]
        assert loaded.problems and "not valid YAML: line 4" in loaded.problems[0]


class TestUnreadable:
    def test_missing_file(self, tmp_path: Path):
        with pytest.raises(UserError, match="no such file"):
            load_source(tmp_path / "nope.yaml")

    def test_directory(self, tmp_path: Path):
        with pytest.raises(UserError, match="is a directory"):
            load_source(tmp_path)

    def test_permission_denied(self, tmp_path: Path):
        f = tmp_path / "secret.yaml"
        f.write_text("a: 1\n")
        f.chmod(0)
        try:
            if f.open("rb").readable():  # root reads anything: nothing to test then
                pytest.skip("running as a user that ignores file permissions")
        except PermissionError:
            with pytest.raises(UserError, match="permission denied"):
                load_source(f)
        finally:
            f.chmod(0o600)
