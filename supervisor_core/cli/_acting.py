"""``ptm stop``, ``restart``, ``reload``, ``delete``, ``scale``, ``signal`` and ``reset``: one
request on a target, what it did, then the table."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from supervisor_core.cli._commands import (
    _check_online,
    _names,
    connect,
    print_table,
    say,
    target_of,
)

if TYPE_CHECKING:
    from supervisor_core.client import Json

__all__ = ["act", "delete", "reset", "scale", "signal"]

_PAST = {"stop": "stopped", "restart": "restarted", "reload": "reloaded", "start": "started"}


def _acted_on(rows: Sequence[Mapping[str, Any]], target: str) -> str:
    """What a command acted on: the apps, or ``app:instance (id N)`` for a process id."""
    if target.isascii() and target.isdigit() and len(rows) == 1 and rows[0].get("name") != target:
        row = rows[0]
        return f"{row.get('name')}:{row.get('instance')} (id {row.get('id')})"
    return ", ".join(_names(rows))


def _on_apps(
    args: argparse.Namespace,
    method: str,
    said: Callable[[Json], str],
    *extra: object,
    check_online: bool = False,
    **options: object,
) -> int:
    """``Client.<method>(args.target, *extra, **options)``, then the daemon's warnings, what
    was done and the table. With ``check_online``, 1 when an instance it started is errored."""
    with connect() as client:
        answer: Json = getattr(client, method)(target_of(args.target), *extra, **options)
        for warning in answer.get("warnings") or []:
            print(f"ptm: warning: {warning}", file=sys.stderr)
        say(said(answer))
        print_table(client)
    return _check_online(answer.get("processes") or []) if check_online else 0


def _acted(answer: Json, target: str) -> str:
    return _acted_on(answer.get("processes") or [], target)


def act(args: argparse.Namespace) -> int:
    """``stop``, ``restart`` and ``reload``."""
    verb: str = args.command
    said = f"{_PAST[verb]} "
    # restart, reload --update-env: the apps take this shell's environment from now on
    options = {"update_env": dict(os.environ)} if getattr(args, "update_env", False) else {}
    return _on_apps(
        args,
        verb,
        lambda answer: said + _acted(answer, args.target),
        check_online=verb != "stop",
        **options,
    )


def delete(args: argparse.Namespace) -> int:
    return _on_apps(
        args, "delete", lambda answer: f"deleted {', '.join(answer.get('deleted') or [])}"
    )


def scale(args: argparse.Namespace) -> int:
    given: str = args.instances
    relative = given[:1] in ("+", "-")

    def said(answer: Json) -> str:
        rows = answer.get("processes") or []
        name = ", ".join(_names(rows)) or args.target
        return f"scaled {name} {given} to {len(rows)}" if relative else f"scaled {name} to {given}"

    if relative:
        return _on_apps(args, "scale", said, change=int(given), check_online=True)
    return _on_apps(args, "scale", said, int(given), check_online=True)


def signal(args: argparse.Namespace) -> int:
    sig: str = args.signal
    with connect() as client:
        answer = client.signal(target_of(args.target), sig)
    pids = answer.get("signalled") or []
    say(f"sent {sig} to {', '.join(map(str, pids)) or 'no process (none running)'}")
    return 0


def reset(args: argparse.Namespace) -> int:
    return _on_apps(
        args, "reset", lambda answer: f"reset the restart counters of {_acted(answer, args.target)}"
    )
