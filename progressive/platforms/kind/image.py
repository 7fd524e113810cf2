"""The Croc Hunter image's build context, assembled from the installed package.

The Dockerfile ships in the package (progressive/app/Dockerfile) and copies only the app and
what it imports. A context of just those files is written to a directory of its own, so the
image builds the same from a wheel as from a checkout, and Docker is sent a few kilobytes
rather than a whole tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]
DOCKERFILE = PACKAGE / "app" / "Dockerfile"
APP_IMPORTS = ("__init__.py", "errors.py")  # the modules of progressive the app imports


def write_build_context(dest: Path) -> Path:
    """Write Dockerfile + progressive/{__init__,errors}.py + progressive/app/ under `dest`
    (replacing an earlier context); returns `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "progressive").mkdir(parents=True)
    shutil.copyfile(DOCKERFILE, dest / "Dockerfile")
    for name in APP_IMPORTS:
        shutil.copyfile(PACKAGE / name, dest / "progressive" / name)
    shutil.copytree(PACKAGE / "app", dest / "progressive" / "app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile"))
    return dest
