"""Croc Hunter, the app under test: a small web app that names its release in every answer.

Our own Python version of the Go original's surface (`/`, `/healthz`, `/delay`, `/status`,
`/static/`) plus `/metrics`, `/version`, an `X-Version` header and fault knobs that make a bad
release reproducible. Run it with `python -m progressive.app --help`; build it in-process with
`build_app(Knobs(...))`.
"""

from progressive.app.knobs import KnobError, Knobs, parse_knobs
from progressive.app.server import CRASH_EXIT_CODE, build_app, serve

__all__ = ["CRASH_EXIT_CODE", "KnobError", "Knobs", "build_app", "parse_knobs", "serve"]
