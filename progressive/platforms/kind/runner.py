"""Run one external command (kind, kubectl, istioctl, docker) with a bound, logged to a file.

Every command the cluster platforms execute goes through `Runner.run`: an argv list (never a
shell), a timeout, and the command line plus its output appended to one log file, which
`collect_diagnostics` copies. Lines that look like credentials are masked before they are
written or put in an error message: no kubeconfig content or token ever reaches a log.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from progressive.errors import UserError

_SECRET = re.compile(
    r"(?i)((?:token|password|client-key-data|client-certificate-data|certificate-authority-data"
    r"|secret)\s*[:=]\s*)\S+"
)
TAIL_LINES = 15


def redact(text: str) -> str:
    return _SECRET.sub(r"\1<redacted>", text)


class CommandFailed(UserError):
    """A command exited non-zero or ran past its bound; the message has the output's tail."""

    def __init__(self, argv: list[str], what: str, detail: str, output: str):
        self.argv = argv
        tail = "\n".join(redact(output).strip().splitlines()[-TAIL_LINES:])
        message = f"{detail} while trying to {what}\n  $ {redact(shlex.join(argv))}"
        if tail:
            message += "\n" + "\n".join(f"  | {line}" for line in tail.splitlines())
        super().__init__(message)


@dataclass
class Runner:
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # added to the process environment

    def run(
        self, argv: list[str], *, timeout: float, what: str, check: bool = True,
        log_output: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` (stdin closed); raise CommandFailed on a non-zero exit (if `check`)
        or when it runs longer than `timeout` seconds. `log_output=False` logs only the
        command line and its outcome (for bulky diagnostics written elsewhere)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S603 - argv list, no shell
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **self.env},
            )
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stdout) + _text(exc.stderr)
            self._log(argv, what, f"timed out after {timeout:g}s", output)
            raise CommandFailed(argv, what, f"timed out after {timeout:g}s", output) from None
        except FileNotFoundError:
            raise CommandFailed(argv, what, f"`{argv[0]}` was not found", "") from None
        took = time.monotonic() - started
        output = done.stdout + done.stderr
        self._log(argv, what, f"exit {done.returncode} after {took:.1f}s",
                  output if log_output or done.returncode else "")
        if check and done.returncode != 0:
            raise CommandFailed(argv, what, f"exit code {done.returncode}", output)
        return done

    def log_line(self, argv: list[str], what: str, outcome: str) -> None:
        """Record a command run by someone else (pytest-kind) in the same log."""
        self._log(argv, what, outcome, "")

    def note(self, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            log.write(f"# {redact(text)}\n")

    def _log(self, argv: list[str], what: str, outcome: str, output: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"$ {redact(shlex.join(argv))}\n# {what}: {outcome}\n")
            if output.strip():
                log.write(redact(output).rstrip() + "\n")


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
