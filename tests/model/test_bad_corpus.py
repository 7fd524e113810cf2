"""The bad-input corpus (fixtures/bad): every file is refused with the message it announces.

Each file's first line is `# expect: <substring of the message>`; files that cannot carry a
comment (empty, binary) are listed in fixtures/bad/EXPECT.yaml. The huge file is generated
here. Refusal means InvalidSpec from the library and exit 2 without a traceback from the CLI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from spec_docs import BAD, REPO, run_validate

from progressive.errors import InvalidSpec
from progressive.model.load import MAX_BYTES
from progressive.model.validate import load_specs

EXPECT_PREFIX = "# expect: "


def expectations() -> dict[str, str]:
    listed = yaml.safe_load((BAD / "EXPECT.yaml").read_text())
    out = {}
    for path in sorted(BAD.iterdir()):
        if path.name == "EXPECT.yaml":
            continue
        if path.name in listed:
            out[path.name] = listed[path.name]
        else:
            first = path.read_text(encoding="utf-8").splitlines()[0]
            assert first.startswith(EXPECT_PREFIX), f"{path.name} has no `# expect:` line"
            out[path.name] = first[len(EXPECT_PREFIX):]
    return out


EXPECTED = expectations()


def test_the_corpus_is_large_enough_and_fully_described():
    assert len(EXPECTED) >= 60
    listed = yaml.safe_load((BAD / "EXPECT.yaml").read_text())
    assert set(listed) <= set(EXPECTED), "EXPECT.yaml names a file that does not exist"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_refused_with_the_expected_message(name):
    with pytest.raises(InvalidSpec) as info:
        load_specs(BAD / name)
    assert EXPECTED[name] in str(info.value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_command_exits_2_without_traceback(name):
    code, out, err = run_validate(BAD / name)
    assert code == 2
    assert "Traceback" not in out + err
    assert EXPECTED[name] in out + err


@pytest.fixture
def huge_file(tmp_path: Path) -> Path:
    """A valid Canary padded with comments to just past the size limit."""
    path = tmp_path / "huge.yaml"
    body = (REPO / "fixtures" / "specs" / "canary-stepweight.yaml").read_bytes()
    with path.open("wb") as f:
        f.write(body)
        f.write(b"#" + b"x" * (MAX_BYTES - len(body)) + b"\n")
    assert path.stat().st_size > MAX_BYTES
    return path


def test_huge_file_is_refused_before_parsing(huge_file):
    with pytest.raises(InvalidSpec) as info:
        load_specs(huge_file)
    assert "file is larger than the 5 MiB limit for a spec" in str(info.value)


def test_whole_corpus_through_the_console_script():
    """One real process over every corpus file: exit 2, a line per file, no traceback."""
    files = [str(BAD / name) for name in sorted(EXPECTED)]
    result = subprocess.run([sys.executable, "-m", "progressive", "validate", *files],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for name in EXPECTED:
        assert name in result.stdout + result.stderr
    assert f"{len(files)} of {len(files)} files invalid" in result.stderr
