"""The markdown table every benchmark prints (bench/ is on sys.path when one runs)."""

from __future__ import annotations

Row = tuple[str, str, str]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| metric | value | target |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {t} |" for m, v, t in rows]
    return "\n".join(lines)
