"""The flags of ``ptm start``, and the ``[[apps]]`` table that ``ptm start SCRIPT`` builds
from them.

Each script flag stands for one key of an ecosystem file (:data:`SCRIPT_FLAGS`); the CLI
writes the values given into a table as TOML would hold it (``3000`` a number, ``200M`` a
string) and the one compiler (``config.build_app``) checks it, so a wrong value reads as the
same key would in a file, with the flag named instead of the key. Only the standard library
here: ``build_parser`` runs for every command.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

__all__ = [
    "SCRIPT_FLAGS",
    "add_start_arguments",
    "add_update_env",
    "given_script_flags",
    "joined_values",
    "script_entry",
]

_ANY_VALUE = ("--interpreter-args", "--node-args")
"""Flags whose value often starts with a dash (``--node-args --max-old-space-size=512``)."""

SCRIPT_FLAGS: dict[str, str] = {
    "name": "--name",
    "instances": "-i/--instances",
    "max_memory_restart": "--max-memory-restart",
    "watch": "--watch",
    "ignore_watch": "--ignore-watch",
    "interpreter": "--interpreter",
    "interpreter_args": "--interpreter-args",
    "cron_restart": "--cron-restart",
    "autorestart": "--no-autorestart",
    "restart_delay": "--restart-delay",
    "max_restarts": "--max-restarts",
    "kill_timeout": "--kill-timeout",
    "cwd": "--cwd",
    "out_file": "--output",
    "error_file": "--error",
    "log_date_format": "--log-date-format",
    "merge_logs": "--merge-logs",
    "args": "-- ARGS",
}
"""Each ecosystem key a flag of ``ptm start SCRIPT`` sets, and the flag (the key's name is
also the flag's ``dest``)."""

_NUMBERS = ("instances", "max_memory_restart", "restart_delay", "max_restarts", "kill_timeout")
"""Keys whose flag text is a number when it reads as one (as ``3000`` would in the file)."""

DEFAULT_TIME_FORMAT = "YYYY-MM-DDTHH:mm:ss.SSSZ"
"""What ``--time`` asks for: the default ``log_date_format`` (ptm timestamps every line)."""


def add_start_arguments(start: argparse.ArgumentParser) -> None:
    start.add_argument("target", metavar="FILE|SCRIPT|NAME", help="what to start")
    start.add_argument("--only", metavar="A,B", help="(file) start only these apps")
    start.add_argument("--env", metavar="NAME", help="(file) apply the [apps.env_NAME] overlay")
    add_update_env(start, "an app already known takes this shell's environment (else its own)")
    start.add_argument(
        "--no-wait",
        action="store_true",
        help="return at once, without waiting for the apps to come online and stay up",
    )
    script = start.add_argument_group("script options (ptm start SCRIPT; each sets a file key)")
    script.add_argument("--name", help="the app's name (default: the script's name)")
    script.add_argument("-i", "--instances", metavar="N", help="number of instances, or max")
    script.add_argument(
        "--max-memory-restart", metavar="SIZE", help="restart above this memory (200M)"
    )
    script.add_argument(
        "--watch",
        nargs="?",
        const=True,
        action="append",
        metavar="PATH",
        help="restart on file changes (in the app's folder, or PATH; repeatable)",
    )
    script.add_argument(
        "--ignore-watch", action="append", metavar="PATTERN", help="paths not watched"
    )
    script.add_argument("--interpreter", metavar="PROGRAM", help="run the script with this")
    script.add_argument(
        "--interpreter-args",
        "--node-args",
        dest="interpreter_args",
        metavar="ARGS",
        help="arguments for the interpreter (one string, split like a shell)",
    )
    script.add_argument(
        "--cron-restart", "--cron", dest="cron_restart", metavar="CRON", help="restart on time"
    )
    script.add_argument(
        "--no-autorestart",
        dest="autorestart",
        action="store_const",
        const=False,
        help="do not restart the app when it exits",
    )
    script.add_argument("--restart-delay", metavar="DELAY", help="wait before a restart")
    script.add_argument("--max-restarts", metavar="N", help="unstable restarts before errored")
    script.add_argument("--kill-timeout", metavar="DELAY", help="SIGKILL after this long")
    script.add_argument("--cwd", metavar="DIR", help="the app's working folder")
    script.add_argument("-o", "--output", dest="out_file", metavar="FILE", help="stdout log")
    script.add_argument("-e", "--error", dest="error_file", metavar="FILE", help="stderr log")
    script.add_argument(
        "--log-date-format", metavar="FORMAT", help='timestamp format of log lines ("": none)'
    )
    script.add_argument(
        "--time", action="store_true", help="timestamp log lines (ptm's default already)"
    )
    script.add_argument(
        "--merge-logs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="instances share one log file (the default)",
    )


def add_update_env(parser: argparse.ArgumentParser, text: str) -> None:
    """``--update-env`` (``start``, ``restart``, ``reload``)."""
    parser.add_argument("--update-env", action="store_true", help=text)


def joined_values(words: list[str]) -> list[str]:
    """``--node-args VALUE`` as ``--node-args=VALUE``: PM2 takes the next word as the value
    even when it starts with a dash, where argparse would read ``--max-old-space-size=512``
    as an unknown flag of ptm's."""
    out: list[str] = []
    at = 0
    while at < len(words):
        word = words[at]
        if word in _ANY_VALUE and at + 1 < len(words):
            out.append(f"{word}={words[at + 1]}")
            at += 2
            continue
        out.append(word)
        at += 1
    return out


def given_script_flags(args: argparse.Namespace) -> list[str]:
    """The script flags given on the command line (``--time`` included)."""
    given = [flag for key, flag in SCRIPT_FLAGS.items() if _given(args, key)]
    return [*given, "--time"] if args.time else given


def _given(args: argparse.Namespace, key: str) -> bool:
    return getattr(args, "script_args" if key == "args" else key, None) is not None


def _number(text: str) -> Any:
    """``text`` as TOML would hold it: an integer, a float, else the string itself."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def script_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[[apps]]`` table of ``ptm start SCRIPT ...`` (checked by ``config.build_app``)."""
    script: str = args.target
    if args.cwd is not None:  # the script was named from here, not from the app's folder
        script = str(Path(script).absolute())
    entry: dict[str, Any] = {"name": args.name or Path(args.target).stem, "script": script}
    for key in SCRIPT_FLAGS:
        if key in ("name", "args") or not _given(args, key):
            continue
        value = getattr(args, key)
        entry[key] = _number(value) if key in _NUMBERS else value
    if args.watch is not None:
        paths = [value for value in args.watch if value is not True]
        entry["watch"] = paths if paths else True
    if args.time and args.log_date_format is None:
        entry["log_date_format"] = DEFAULT_TIME_FORMAT
    if args.script_args:
        entry["args"] = list(args.script_args)
    return entry
