"""Errors the CLI turns into exit codes without a traceback.

`UserError` (and its children) mean exit 2: the input or the environment is wrong and the
message says how to fix it. `BehaviourFailed` means exit 1: the system under test misbehaved.
"""

from __future__ import annotations


class UserError(Exception):
    """Invalid input or environment (exit 2). The message is shown to the user as is."""

    exit_code = 2


class InvalidSpec(UserError):
    """A document failed validation; `problems` lists every problem as `field.path: reason`."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: invalid:\n{lines}")


class MissingBinary(UserError):
    """A program the run needs is not on PATH."""

    def __init__(self, binary: str, how_to_install: str):
        self.binary = binary
        self.how_to_install = how_to_install
        super().__init__(f"`{binary}` was not found on PATH. Install it: {how_to_install}")


class BehaviourFailed(Exception):
    """The behaviour under test failed (exit 1): rolled back, split out of bounds, ..."""

    exit_code = 1
