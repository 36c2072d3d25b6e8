"""Interactive ``ptm monit`` on a terminal: keys, the daemon, and a redraw every second.

Uses `blessed <https://github.com/jquast/blessed>`_ for the terminal: the alternate screen,
cbreak mode, a hidden cursor, decoding keys (arrows, Esc, Enter, Backspace) with a timeout,
and the terminal's size. It is imported by ``ptm monit`` only (through :func:`run`), so the
other commands never load it. What is drawn is :func:`supervisor_core.cli._monit_view.render`.

Why blessed: monit needs a terminal layer, not a widget framework. blessed is maintained,
small (about 70 ms to import), and leaves the screen to our own pure renderer, which the
tests check without a terminal. Textual, urwid and prompt_toolkit bring their own event loop,
layout and widgets, which would replace that renderer rather than serve it.

Keys: ↑/↓ (or k/j) select a process, ``r`` restart, ``l`` reload, ``s`` stop, ``t`` start
(each asks ``y/n`` first, and acts on the selected process alone, by its process id), ``/``
filter by name (Enter keeps it, Esc clears it), ``q`` or Ctrl-C quit.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

# blessed asks the terminal what it is when it starts, and waits up to 5 s for each answer
# a terminal that does not answer never gives; monit uses none of it (it draws with plain
# ANSI), so it waits half a second at most (blessed's own setting, read when it is imported).
os.environ.setdefault("BLESSED_QUERY_TIMEOUT_SECONDS", "0.5")

from blessed import Terminal

from supervisor_core.cli._lines import LogLine
from supervisor_core.cli._monit_data import fill
from supervisor_core.cli._monit_view import Key, MonitState, key_of, label, render, visible_rows
from supervisor_core.errors import ClientError, DaemonNotRunning, PtmError

if TYPE_CHECKING:
    from blessed.keyboard import Keystroke

    from supervisor_core.client import Client

__all__ = ["ACTIONS", "FRAME_BEGIN", "FRAME_END", "run"]

REFRESH_S: Final = 1.0
FOLLOWED: Final = 2000
"""Followed log lines kept (every app's), newest last."""
TAIL: Final = 100
"""Lines of a process's log files read when it is first selected."""
ACTIONS: Final = {"r": "restart", "l": "reload", "s": "stop", "t": "start"}
FRAME_BEGIN: Final = "\x1b[?2026h"
FRAME_END: Final = "\x1b[?2026l"
"""Synchronized output (DEC private mode 2026) around each frame."""
_DONE: Final = {"restart": "restarted", "reload": "reloaded", "stop": "stopped", "start": "started"}


class _Logs:
    """Every app's followed lines (from a background thread), and each process's tail read
    when it is first shown."""

    def __init__(self) -> None:
        self.followed: deque[tuple[int, LogLine]] = deque(maxlen=FOLLOWED)
        self._seq = itertools.count(1)
        self.last = 0
        self.tails: dict[Key, tuple[int, list[LogLine]]] = {}
        self.stopped = threading.Event()
        self.failure: list[BaseException] = []

    def add(self, item: Mapping[str, Any]) -> None:
        if "line" in item:  # not the notice of skipped lines
            self.last = next(self._seq)
            line = LogLine(
                str(item.get("app")),
                int(item.get("instance") or 0),
                str(item.get("stream")),
                str(item.get("line")),
            )
            self.followed.append((self.last, line))

    def follow(self, client: Client) -> None:
        """The thread: follow every app's output until the daemon stops."""
        try:
            for item in client.follow_logs():
                if "daemon" in item:  # the daemon stopped: its stream ends here
                    self.stopped.set()
                    return
                self.add(item)
        except ClientError as exc:
            self.failure.append(exc)

    def of(self, client: Client, key: Key) -> list[LogLine]:
        if key not in self.tails:
            seen = self.last
            items = client.logs(app=key[0], lines=TAIL)
            mine = [
                LogLine(str(i["app"]), int(i.get("instance") or 0), str(i["stream"]), i["line"])
                for i in items
                if "line" in i and int(i.get("instance") or 0) == key[1]
            ]
            self.tails[key] = (seen, mine)
        seen, tail = self.tails[key]
        later = [
            line
            for seq, line in list(self.followed)  # one step: the thread appends meanwhile
            if seq > seen and (line.app, line.instance) == key
        ]
        return (tail + later)[-TAIL:]


class _Monit:
    def __init__(self, client: Client, term: Terminal) -> None:
        self.client = client
        self.term = term
        self.state = MonitState()
        self.logs = _Logs()
        self.pending: tuple[str, str, str] | None = None
        """(action, target, what the screen calls it) waiting for ``y``."""
        self.quit = False

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        fill(self.client, self.state, lambda key: self.logs.of(self.client, key))

    def draw(self) -> None:
        term = self.term
        lines = render(self.state, width=term.width or 100, height=term.height or 30, color=True)
        out = term.home + "".join(
            line + term.clear_eol + ("\r\n" if i < len(lines) - 1 else "")
            for i, line in enumerate(lines)
        )
        # A frame is larger than a pseudo-terminal's buffer: wrapped in synchronized output
        # (DEC mode 2026), terminals that know it show it whole, never half old, half new;
        # others ignore the two sequences.
        print(FRAME_BEGIN + out + FRAME_END, end="", flush=True)

    # ------------------------------------------------------------------ keys
    def move(self, by: int) -> None:
        keys = [key_of(r) for r in visible_rows(self.state)]
        if not keys:
            return
        at = keys.index(self.state.selected) if self.state.selected in keys else 0
        self.state.selected = keys[max(0, min(len(keys) - 1, at + by))]
        self.state.logs = self.logs.of(self.client, self.state.selected)

    def key(self, key: Keystroke) -> None:
        state = self.state
        if self.pending is not None:
            action, target, shown = self.pending
            self.pending, state.question = None, None
            if str(key).lower() == "y":
                self.act(action, target, shown)
            else:
                state.message = f"{action} of {shown} cancelled"
            return
        if state.filtering:
            if key.name == "KEY_ENTER":
                state.filtering = False
            elif key.name == "KEY_ESCAPE":
                state.filtering, state.filter = False, ""
            elif key.name in ("KEY_BACKSPACE", "KEY_DELETE"):
                state.filter = state.filter[:-1]
            elif key.is_sequence is False and str(key).isprintable():
                state.filter += str(key)
            self.reselect()
            return
        state.message = None
        if key.name == "KEY_UP" or str(key) == "k":
            self.move(-1)
        elif key.name == "KEY_DOWN" or str(key) == "j":
            self.move(1)
        elif key.name == "KEY_PGUP":
            self.move(-10)
        elif key.name == "KEY_PGDOWN":
            self.move(10)
        elif str(key) == "/":
            state.filtering = True
        elif key.name == "KEY_ESCAPE":
            state.filter = ""
            self.reselect()
        elif str(key) in ACTIONS and state.selected is not None:
            self.ask(ACTIONS[str(key)])
        elif str(key) in ("q", "Q"):
            self.quit = True

    def reselect(self) -> None:
        keys = [key_of(r) for r in visible_rows(self.state)]
        if self.state.selected not in keys:
            self.state.selected = keys[0] if keys else None

    def ask(self, action: str) -> None:
        """Ask before acting on the selected process (by its process id: that instance only)."""
        state = self.state
        row = next((r for r in state.rows if key_of(r) == state.selected), None)
        if row is None:
            return
        shown = label(row, state.rows)
        target = str(row["id"]) if row.get("id") is not None else str(row.get("name"))
        self.pending = (action, target, shown)
        state.question = f"{action} {shown} (id {row.get('id')})?"

    def act(self, action: str, target: str, shown: str) -> None:
        self.state.message = f"{action} {shown}…"
        self.draw()
        calls: dict[str, Callable[[str], object]] = {
            "restart": self.client.restart,
            "reload": self.client.reload,
            "stop": self.client.stop,
            "start": self.client.start,
        }
        try:
            calls[action](target)
        except PtmError as exc:
            self.state.message = f"{action} {shown} failed: {exc}"
            return
        self.state.message = f"{_DONE[action]} {shown}"

    # ------------------------------------------------------------------ loop
    def run(self) -> bool:
        """Until ``q`` (False) or the daemon stops (True)."""
        threading.Thread(
            target=self.logs.follow, args=(self.client,), name="ptm-monit-logs", daemon=True
        ).start()
        term = self.term
        with term.fullscreen(), term.cbreak(), term.hidden_cursor():
            next_refresh = 0.0
            first = True
            while not self.quit:
                if self.logs.stopped.is_set():
                    return True
                if self.logs.failure:
                    raise self.logs.failure[0]
                if time.monotonic() >= next_refresh:
                    try:
                        self.refresh()
                    except DaemonNotRunning:
                        return True
                    except ClientError:  # the daemon going away mid-answer
                        if self.logs.stopped.wait(2):
                            return True
                        raise
                    if first:  # from now on a missing daemon is the end, not one to start
                        self.client.autostart, first = False, False
                    next_refresh = time.monotonic() + REFRESH_S
                self.draw()
                key = term.inkey(timeout=max(0.0, next_refresh - time.monotonic()))
                if key:
                    self.key(key)
        return False


def run(client: Client) -> bool:
    """Interactive monit on this terminal: True when it ended because the daemon stopped."""
    return _Monit(client, Terminal()).run()
