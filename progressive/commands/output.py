"""The CLI's console: in a terminal, rich's own width; in a pipe or a CI log, wide enough that
a table is printed at its full width, so that no identifier is ever cut (`croc-hunter-j…`).

Outside a terminal rich assumes 80 columns and shortens the widest cells to fit, which cut the
one column a reader of a CI log needs: a destination host, a test name, a workload.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

LOG_WIDTH = 4096  # no table of ours comes near it: every column gets its natural width


def cli_console(*, stderr: bool = False, **options: Any) -> Console:
    console = Console(stderr=stderr, **options)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=LOG_WIDTH, **options)
