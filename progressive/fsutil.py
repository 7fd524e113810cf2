"""Atomic file replacement, shared by every layer (engine state, router state, configs).

A temp file in the same directory (so the rename stays on one filesystem), then `os.replace`:
a reader (Envoy watching a directory, another process, a restarted engine) sees the old file or
the new one, never half of one. No fsync: that guards against a power loss, which ends a test
run anyway, and it cost a route change and an engine tick about a millisecond a file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.is_file():
            tmp.unlink()
