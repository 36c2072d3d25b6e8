"""``ptm ping`` and ``ptm update`` (replace the daemon's code, keep every app: see
docs/update.md)."""

from __future__ import annotations

import argparse
import time

__all__ = ["ping", "update"]


def ping(args: argparse.Namespace) -> int:
    from supervisor_core.cli._commands import connect

    with connect() as client:
        info = client.ping()
    at = info.get("reexecuted_at")  # when ptm update last re-executed it
    since = f", updated {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))}" if at else ""
    print(f"pong: daemon pid {info.get('pid')}, ptm {info.get('version')}{since}", flush=True)
    return 0


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
