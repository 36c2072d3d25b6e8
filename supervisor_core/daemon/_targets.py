"""What a command's target names: apps, or one process of an app (pure, no I/O); and the
signal ``ptm signal`` names.

A target is ``all``, an app name, a process id (an integer: one instance, as in PM2), or an
ecosystem file (every app started from it). App names are never only digits, so an integer
is always a process id. Only ASCII digits make one: ``str.isdigit`` is also true for ``²``,
``٣`` or ``０``, which ``int`` refuses or reads as a number nobody typed as one.
"""

from __future__ import annotations

import contextlib
import os
import signal as signal_module
from collections.abc import Mapping, Sequence

from supervisor_core.errors import BadRequest, UnknownAppError
from supervisor_core.store import StoredApp

__all__ = ["Selection", "find_process", "parse_signal", "select"]

_MAX_DIGITS = 18
"""More digits than any process id or signal number has (and ``int`` refuses past 4300)."""

Selection = dict[str, tuple[int, ...] | None]
"""App name → the instances (indexes) a target names, None for every instance; in
``ptm list`` order."""


def find_process(ids: Mapping[str, Sequence[int]], process_id: int) -> tuple[str, int] | None:
    """The app and instance that have ``process_id``, if any."""
    for name, app_ids in ids.items():
        if process_id in app_ids:
            return name, list(app_ids).index(process_id)
    return None


def select(
    target: str, managed: Mapping[str, StoredApp], ids: Mapping[str, Sequence[int]]
) -> Selection:
    """What ``target`` names among the ``managed`` apps (in ``ptm list`` order) whose
    instances have the process ``ids``; nothing is an :class:`UnknownAppError`."""
    if target == "all":
        if not managed:
            raise UnknownAppError("no app is managed by the daemon")
        return dict.fromkeys(managed)
    if target in managed:
        return {target: None}
    if _is_number(target):
        number = target.lstrip("0") or "0"
        found = None
        if len(number) <= _MAX_DIGITS:
            found = find_process({n: ids.get(n, ()) for n in managed}, int(number))
        if found is None:
            raise UnknownAppError(f"no process with id {number}")
        return {found[0]: (found[1],)}
    if "/" in target or target.endswith(".toml"):
        path = os.path.abspath(target)
        names = [n for n, stored in managed.items() if stored.source == path]
        if not names:
            raise UnknownAppError(f"no app was started from {path}")
        return dict.fromkeys(names)
    raise UnknownAppError(f"no app named {target!r}")


def _is_number(text: str) -> bool:
    """``text`` is ASCII digits (not ``²``, ``٣`` or ``０``, which ``str.isdigit`` accepts)."""
    return text.isascii() and text.isdigit()


def parse_signal(name: str) -> int:
    text = name.strip().upper()
    if _is_number(text):
        number = int(text) if len(text) <= _MAX_DIGITS else -1
        if number in {s.value for s in signal_module.Signals}:
            return number
    else:
        if not text.startswith("SIG"):
            text = "SIG" + text
        with contextlib.suppress(KeyError):
            return int(signal_module.Signals[text])
    raise BadRequest(f"unknown signal {name!r}")
