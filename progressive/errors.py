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


class EnvironmentFailed(UserError):
    """A part of the platform did not come up or answer (exit 2). `logs` names where its logs
    are, when the code that raised it knows; the CLI prints it with the message."""

    logs: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  logs: {self.logs}" if self.logs else text


class WaitTimedOut(EnvironmentFailed, TimeoutError):
    """A bounded wait ran out: what it waited for, for how long, what it saw last, what to try."""

    def __init__(self, what: str, timeout: float, last: object, hint: str | None = None):
        self.what, self.timeout, self.last, self.hint = what, timeout, last, hint
        super().__init__(what)

    def __str__(self) -> str:
        lines = [f"timed out after {self.timeout:.1f} s waiting for {self.what}",
                 f"  last seen: {_last_seen(self.last)}"]
        if self.logs:
            lines.append(f"  logs: {self.logs}")
        lines.append(f"  try: {self.hint or DEFAULT_HINT}")
        return "\n".join(lines)


DEFAULT_HINT = ("a busy machine can be slow: run it again; if it persists, read the logs, then "
                "`progressive down` and start afresh")


def _last_seen(last: object) -> str:
    if isinstance(last, BaseException):
        text = str(last).strip().splitlines()
        return f"{type(last).__name__}: {text[0] if text else ''}"
    return repr(last)


class BehaviourFailed(Exception):
    """The behaviour under test failed (exit 1): rolled back, split out of bounds, ..."""

    exit_code = 1
