"""``ptm logs``: the last lines of the log files, then the new ones as they come."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from supervisor_core.errors import ClientError

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = ["logs", "skipped_notice"]


def logs(args: argparse.Namespace) -> int:
    """Print the last ``--lines`` lines, then follow until Ctrl-C (exit 0) unless --nostream."""
    try:
        return _logs(args)
    except KeyboardInterrupt:
        return 0


def _logs(args: argparse.Namespace) -> int:
    from supervisor_core.cli._commands import connect
    from supervisor_core.cli._format import use_color
    from supervisor_core.cli._lines import format_log_line, label_width
    from supervisor_core.client import Stream

    stream: Stream = "out" if args.out else "err" if args.err else "both"
    color = use_color(sys.stdout) and not args.json
    with connect() as client:
        rows = client.processes()
        counts = instance_counts(rows)
        if args.app is not None:
            # A process id names one instance of an app: its lines carry the app's label.
            by_id = [r for r in rows if args.app not in counts and str(r.get("id")) == args.app]
            name = str(by_id[0].get("name")) if by_id else args.app
            counts = {name: counts.get(name, 1)}
        width = label_width(counts)

        def show(items: Iterable[Mapping[str, Any]]) -> None:
            for item in items:
                if "daemon" in item:  # the daemon stopped: the stream ends here
                    sys.stdout.flush()
                    print(f"[ptm] the daemon {item['daemon']}", file=sys.stderr, flush=True)
                    continue
                if args.json:
                    text = json.dumps(item)
                elif "skipped" in item:
                    text = skipped_notice(int(item["skipped"]))
                else:
                    app = str(item.get("app"))
                    text = format_log_line(
                        app,
                        int(item.get("instance") or 0),
                        str(item.get("stream")),
                        str(item.get("line")),
                        color=color,
                        width=width,
                        instances=counts.get(app, 1),
                    )
                sys.stdout.write(text + "\n")
            sys.stdout.flush()

        # Subscribe first, then read the tail: a line written in between may show twice, but
        # none is lost.
        follow = None if args.nostream else client.follow_logs(args.app, stream=stream)
        updated = client.info().get("reexecuted_at") if follow is not None else None
        if args.lines > 0:
            show(client.logs(args.app, lines=args.lines, stream=stream))
        if follow is not None:
            try:
                for item in follow:
                    show([item])
            except ClientError:
                # A follower too slow to take its last line before ``ptm update`` re-executed
                # the daemon loses the connection instead: say what happened all the same.
                if not _was_updated(client, updated):
                    raise
                show([{"daemon": "updated"}])
    return 0


def _was_updated(client: Client, before: object) -> bool:
    """Whether the daemon answers again, re-executed since ``before``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(ClientError):
            return client.info().get("reexecuted_at") != before
        time.sleep(0.05)
    return False


def skipped_notice(count: int) -> str:
    """What ``ptm logs`` prints where the daemon left lines out for it."""
    lines = "line" if count == 1 else "lines"
    return (
        f"[ptm] {count} {lines} skipped here: this follower fell behind"
        " (the log files have every line)"
    )


def instance_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many instances each app has, from ``ptm jlist`` rows."""
    counts: dict[str, int] = {}
    for row in rows:
        name = str(row.get("name"))
        counts[name] = max(counts.get(name, 0), int(row.get("instance") or 0) + 1)
    return counts
