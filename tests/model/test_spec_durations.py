"""Go-style durations: what parses, to how many seconds, and what is refused."""

from __future__ import annotations

import pytest

from progressive.model.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15.0),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1h2m3s", 3723.0),
        ("1.5s", 1.5),
        (".5m", 30.0),
        ("250us", 250e-6),
        ("250\u00b5s", 250e-6),
        ("10ns", 10e-9),
        ("0", 0.0),
        ("-15s", -15.0),
        ("+2m", 120.0),
        (" 30s ", 30.0),
    ],
)
def test_parses_like_go(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("15", "missing unit in duration '15'"),
        ("1.5", "missing unit"),
        ("1d", "unknown unit 'd'"),
        ("15 seconds", "invalid duration '15 seconds'"),
        ("s", "invalid duration 's'"),
        ("1m 30s", "invalid duration"),
        ("fast", "invalid duration 'fast'"),
        ("1e3s", "unknown unit 'e'"),
        ("9" * 30 + "h", "too large"),
    ],
)
def test_refuses_what_go_refuses(text, message):
    with pytest.raises(DurationError, match=None) as info:
        parse_duration(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(15, "15s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (0.5, "500ms"), (1.5, "1.5s")],
)
def test_format_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
