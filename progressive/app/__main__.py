"""`python -m progressive.app`: run one Croc Hunter process (exit 2 on a bad knob)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from progressive.app.knobs import KnobError, parse_knobs
from progressive.app.server import serve


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return serve(parse_knobs(argv))
    except KnobError as exc:
        print(f"croc-hunter: {exc}", file=sys.stderr)
        return KnobError.exit_code


if __name__ == "__main__":
    sys.exit(main())
