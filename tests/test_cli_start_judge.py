"""How ``ptm start`` judges an instance it waits for, row by row, as ``ptm jlist`` shows it
during a restart a command asked for (seen with a real daemon: online, stopping, stopped with
the old count, then online with the count grown and reason ``manual``)."""

from __future__ import annotations

from typing import Any

from supervisor_core.cli._start import _judge, _Rule

RULE = _Rule(min_uptime=3.0, wait_ready=False, listen_timeout=0.0)
BEFORE = {"status": "online", "restarts": 0, "desired": "running"}


def row(status: str, restarts: int = 0, **more: Any) -> dict[str, Any]:
    return {"status": status, "restarts": restarts, "desired": "running", **more}


def test_a_restart_a_command_asked_for_is_waited_through() -> None:
    assert _judge(BEFORE, row("stopping"), RULE) is None
    # The stopped step of a restart: the old run ended (code 0), the new one not counted yet.
    assert _judge(BEFORE, row("stopped", exit_code=0), RULE) is None
    assert _judge(BEFORE, row("online", 1, last_restart_reason="manual"), RULE) is False


def test_an_app_that_ends_by_itself_is_still_a_failure() -> None:
    once = _Rule(min_uptime=3.0, wait_ready=False, listen_timeout=0.0, autorestart=False)
    assert "exited with code 0 before" in str(_judge(BEFORE, row("stopped", exit_code=0), once))
    done = _Rule(
        min_uptime=3.0, wait_ready=False, listen_timeout=0.0, stop_exit_codes=frozenset({3})
    )
    assert "exited with code 3" in str(_judge(BEFORE, row("stopped", exit_code=3), done))
    crashed = row("waiting restart", exit_code=1)
    assert "exited with code 1" in str(_judge(BEFORE, crashed, RULE))
    assert "exited with code 1" in str(_judge(BEFORE, row("online", 1, exit_code=1), RULE))
    stopped = {**row("stopped"), "desired": "stopped"}
    assert _judge(BEFORE, stopped, RULE) == "was stopped while ptm start waited"
