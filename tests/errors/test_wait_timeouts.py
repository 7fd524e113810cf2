"""A bounded wait that runs out is a user-facing message, never a traceback (issue: isolation)."""

from __future__ import annotations

import pytest

from progressive.cli import main
from progressive.errors import UserError, WaitTimedOut
from progressive.waiting import wait_until


def test_a_timed_out_wait_names_what_it_waited_for_what_it_saw_and_what_to_try():
    def refused():
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    with pytest.raises(WaitTimedOut) as caught:
        wait_until(refused, timeout=0.05, what="the gateway to answer", hint="start it again")
    exc = caught.value
    exc.logs = "/state/logs"
    assert isinstance(exc, TimeoutError) and isinstance(exc, UserError) and exc.exit_code == 2
    assert str(exc).splitlines() == [
        "timed out after 0.1 s waiting for the gateway to answer",
        "  last seen: ConnectionRefusedError: [Errno 111] Connection refused",
        "  logs: /state/logs",
        "  try: start it again",
    ]


def test_the_last_falsy_value_is_shown_and_a_default_hint_given():
    with pytest.raises(WaitTimedOut, match=r"(?s)last seen: 0\.0.*try: a busy machine"):
        wait_until(lambda: 0.0, timeout=0.01, what="one scrape")


def test_the_cli_prints_a_timeout_as_one_message_and_exits_2(monkeypatch, capsys):
    def validate_that_times_out(*_args, **_kwargs):
        wait_until(lambda: False, timeout=0.01, what="something that never happens")

    monkeypatch.setattr("progressive.commands.validate.validate_file", validate_that_times_out)
    assert main(["validate", "fixtures/specs/seed-canary.yaml"]) == 2
    err = capsys.readouterr().err
    assert "timed out after 0.0 s waiting for something that never happens" in err
    assert "Traceback" not in err
