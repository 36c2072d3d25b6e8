"""What ``ptm monit`` reads from the daemon, for the terminal (:mod:`._monit_tui`) and for the
one frame printed off a terminal. Standard library only (besides the client)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from supervisor_core.cli._lines import LogLine
from supervisor_core.cli._monit_view import Key, MonitState, key_of, render, visible_rows
from supervisor_core.errors import ApiError

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = ["FRAME_LOG_LINES", "RECENT_POINTS", "fill", "one_frame"]

FRAME_LOG_LINES = 5
RECENT_POINTS = 60
"""Seconds of each process fetched for the list's sparklines (at most this many marks)."""


def fill(client: Client, state: MonitState, logs: Callable[[Key], list[LogLine]]) -> None:
    """Refresh ``state`` from the daemon: the rows, each process's last seconds, and the
    selected process's history and output lines (``logs`` gives them)."""
    state.rows = client.processes()
    keys = [key_of(row) for row in visible_rows(state)]
    if state.selected not in keys:
        state.selected = keys[0] if keys else None
    if not state.rows:
        state.recent, state.detail, state.logs = {}, None, []
        return
    try:
        recent = client.history("all", resolution="second", points=RECENT_POINTS)
        state.recent = {
            (str(p["name"]), int(p["instance"])): (
                p["second"]["cpu_percent"],
                p["second"]["memory_bytes"],
            )
            for p in recent["processes"]
        }
        state.detail, state.logs = None, []
        if state.selected is not None:
            row = next(r for r in state.rows if key_of(r) == state.selected)
            target: str | int = state.selected[0] if row.get("id") is None else int(row["id"])
            answer = client.history(target)["processes"]
            instance = state.selected[1]
            state.detail = next((p for p in answer if int(p["instance"]) == instance), None)
            state.logs = logs(state.selected)
    except ApiError:  # an app deleted since the rows were read: the next refresh is right
        pass


def one_frame(client: Client) -> str:
    """The screen a terminal would show first (the first process selected), without colour."""

    def tail(key: Key) -> list[LogLine]:
        items = client.logs(app=key[0], lines=FRAME_LOG_LINES * 4)
        return [
            LogLine(str(i["app"]), int(i.get("instance") or 0), str(i["stream"]), str(i["line"]))
            for i in items
            if "line" in i and int(i.get("instance") or 0) == key[1]
        ][-FRAME_LOG_LINES:]

    size = shutil.get_terminal_size((100, 30))
    state = MonitState()
    fill(client, state, tail)
    lines = render(state, width=size.columns, height=size.lines, color=False)
    return "\n".join(line.rstrip() for line in lines).rstrip("\n")
