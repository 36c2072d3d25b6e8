"""``ptm monit``: a live full-screen view of every app, refreshed about once a second.

``q`` or Ctrl-C quits, and so does the daemon stopping (``[ptm] the daemon stopped``). When
standard output is not a terminal, one frame is printed and the command exits (so that
``ptm monit > snapshot.txt`` works).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import sys
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = ["monit"]

REFRESH_S = 1.0
RECENT = 200
_ENTER = "\x1b[?1049h\x1b[?25l"  # alternate screen, cursor hidden
_LEAVE = "\x1b[?25h\x1b[?1049l"


def monit(args: argparse.Namespace) -> int:
    from supervisor_core.cli._commands import connect

    try:
        with connect() as client:
            if not sys.stdout.isatty():
                frame = _frame(client, _as_lines(client.logs(lines=5)), color=False)
                sys.stdout.write(frame.rstrip("\n") + "\n")
                return 0
            if _live(client):
                print("[ptm] the daemon stopped", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _as_lines(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, int, str, str]]:
    return [
        (str(i.get("app")), int(i.get("instance") or 0), str(i.get("stream")), str(i.get("line")))
        for i in items
        if "line" in i  # not the notice of lines a slow follower skipped
    ]


def _frame(client: Client, recent: list[tuple[str, int, str, str]], *, color: bool) -> str:
    from supervisor_core.cli._lines import render_monit_frame

    size = shutil.get_terminal_size((100, 30))
    return render_monit_frame(
        client.processes(), recent, width=size.columns, height=size.lines, color=color
    )


def _live(client: Client) -> bool:
    """Refresh until ``q`` (False) or the daemon stops (True)."""
    from supervisor_core.cli._format import use_color

    recent: deque[tuple[str, int, str, str]] = deque(_as_lines(client.logs(lines=5)), RECENT)
    failure: list[BaseException] = []
    stopped = threading.Event()
    follower = threading.Thread(
        target=_follow,
        args=(client, recent, failure, stopped),
        name="ptm-monit-logs",
        daemon=True,
    )
    follower.start()
    color = use_color(sys.stdout)
    with _screen() as keys:
        while True:
            if stopped.is_set():
                return True
            frame = _frame(client, list(recent), color=color)
            sys.stdout.write("\x1b[H" + frame.replace("\n", "\x1b[K\n") + "\x1b[K\x1b[J")
            sys.stdout.flush()
            if failure:
                raise failure[0]
            if keys.quit_within(REFRESH_S, stopped):
                return False


def _follow(
    client: Client,
    recent: deque[tuple[str, int, str, str]],
    failure: list[BaseException],
    stopped: threading.Event,
) -> None:
    from supervisor_core.errors import ClientError

    try:
        for item in client.follow_logs():
            if "daemon" in item:  # the daemon stopped: its stream ends here
                stopped.set()
                return
            recent.extend(_as_lines([item]))
    except ClientError as exc:
        failure.append(exc)


class _Keys:
    """Waits for ``q`` on a terminal's standard input (or just waits when there is none)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def quit_within(self, seconds: float, stopped: threading.Event) -> bool:
        """True on ``q``; False after ``seconds``, or as soon as ``stopped`` is set."""
        if self.fd is None:
            stopped.wait(seconds)
            return False
        deadline = time.monotonic() + seconds
        while not stopped.is_set() and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                data = os.read(self.fd, 64)
                return not data or b"q" in data.lower()
        return False


@contextlib.contextmanager
def _screen() -> Iterator[_Keys]:
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    sys.stdout.write(_ENTER)
    sys.stdout.flush()
    try:
        if fd is not None:
            tty.setcbreak(fd)
        yield _Keys(fd)
    finally:
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stdout.write(_LEAVE)
        sys.stdout.flush()
