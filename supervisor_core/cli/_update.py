"""``ptm update``: replace the daemon's code, keep every app (see docs/update.md)."""

from __future__ import annotations

import argparse

__all__ = ["update"]


def update(args: argparse.Namespace) -> int:
    from supervisor_core.cli._commands import connect

    with connect(autostart=False) as client:
        done = client.update()
    daemon = done["daemon"]
    print(
        f"updated: daemon pid {daemon.get('pid')}, ptm {done.get('from')} -> "
        f"{daemon.get('version')} in {done['seconds']:.2f} s; "
        f"{daemon.get('processes')} process(es) ran on",
        flush=True,
    )
    return 0
