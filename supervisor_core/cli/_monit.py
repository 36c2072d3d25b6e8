"""``ptm monit``: every process with cpu and memory sparklines, the selected one's history and
live logs, and keys to restart, reload, stop and start (see :mod:`._monit_tui`).

``q`` or Ctrl-C quits, and so does the daemon stopping (``[ptm] the daemon stopped``). When
standard output is not a terminal, one frame is printed and the command exits (so that
``ptm monit > snapshot.txt`` works); the terminal library is loaded only on a terminal.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = ["monit"]

FRAME_LOG_LINES = 5


def monit(args: argparse.Namespace) -> int:
    from supervisor_core.cli._commands import connect

    try:
        with connect() as client:
            if not (sys.stdout.isatty() and sys.stdin is not None and sys.stdin.isatty()):
                sys.stdout.write(one_frame(client) + "\n")
                return 0
            from supervisor_core.cli._monit_tui import run

            if run(client):
                print("[ptm] the daemon stopped", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def one_frame(client: Client) -> str:
    """The screen a terminal would show first (the first process selected), without colour."""
    from supervisor_core.cli._lines import LogLine
    from supervisor_core.cli._monit_view import MonitState, key_of, render

    size = shutil.get_terminal_size((100, 30))
    state = MonitState(rows=client.processes())
    if state.rows:
        state.selected = key_of(state.rows[0])
        recent = client.history("all", resolution="second", points=60)["processes"]
        state.recent = {
            (p["name"], p["instance"]): (p["second"]["cpu_percent"], p["second"]["memory_bytes"])
            for p in recent
        }
        app, instance = state.selected
        details = client.history(app)["processes"]
        state.detail = next((p for p in details if p["instance"] == instance), None)
        state.logs = [
            LogLine(i["app"], int(i.get("instance") or 0), i["stream"], i["line"])
            for i in client.logs(app=app, lines=FRAME_LOG_LINES * 4)
            if "line" in i and int(i.get("instance") or 0) == instance
        ][-FRAME_LOG_LINES:]
    lines = render(state, width=size.columns, height=size.lines, color=False)
    return "\n".join(line.rstrip() for line in lines).rstrip("\n")
