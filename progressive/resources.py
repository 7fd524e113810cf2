"""Where the product's files are: the data it ships and the user cache it builds into.

The wheel carries the conformance suites and the fixtures as `progressive/suites/` and
`progressive/fixtures/` (pyproject.toml maps the repository's top-level `suites/` and
`fixtures/` there). A checkout keeps them at the top level, where the project's layout has
them; an editable install does not move them. `packaged()` answers for both, the package first.

What the product builds or downloads (Kubernetes, etcd and Flagger binaries, the Allure CLI)
goes to the user cache, never into the package or the checkout: `$PROGRESSIVE_CACHE_DIR`, else
`$XDG_CACHE_HOME/progressive`, else `~/.cache/progressive`.
"""

from __future__ import annotations

import os
from pathlib import Path

from progressive.errors import UserError

PACKAGE = Path(__file__).resolve().parent
CACHE_ENV = "PROGRESSIVE_CACHE_DIR"


def packaged(name: str) -> Path:
    """The shipped directory `name` ("suites", "fixtures"): inside the installed package, or
    at the top of the checkout this package was imported from (a directory holding our
    pyproject.toml: site-packages may hold an unrelated package of the same name)."""
    if (PACKAGE / name).is_dir():
        return PACKAGE / name
    checkout = PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    raise UserError(f"{name}/ is missing from the installed package at {PACKAGE}; "
                    "reinstall progressive (pip install --force-reinstall progressive)")


def fixture(*parts: str) -> Path:
    """A file under the shipped fixtures, e.g. fixture("specs", "seed-canary.yaml")."""
    return packaged("fixtures").joinpath(*parts)


def cache_dir(*parts: str) -> Path:
    """A directory under the user cache (not created here)."""
    root = os.environ.get(CACHE_ENV) or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "progressive"
    return Path(root).expanduser().resolve().joinpath(*parts)
