"""``ptm monit``: every process with cpu and memory sparklines, the selected one's history and
live logs, and keys to restart, reload, stop and start (see :mod:`._monit_tui`).

``q`` or Ctrl-C quits, and so does the daemon stopping (``[ptm] the daemon stopped``). When
standard output or input is not a terminal, one frame is printed and the command exits (so
that ``ptm monit > snapshot.txt`` works); the terminal library is loaded only on a terminal.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["monit"]


def monit(args: argparse.Namespace) -> int:
    from supervisor_core.cli._commands import connect

    try:
        with connect() as client:
            if not (sys.stdout.isatty() and sys.stdin is not None and sys.stdin.isatty()):
                from supervisor_core.cli._monit_data import one_frame

                sys.stdout.write(one_frame(client) + "\n")
                return 0
            from supervisor_core.cli._monit_tui import run

            if run(client):
                print("[ptm] the daemon stopped", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    return 0
