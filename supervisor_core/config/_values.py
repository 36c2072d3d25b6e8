"""The values of an app's keys: each a plain function ``value -> T`` that raises ValueError
with a short reason (``Table`` turns it into a ConfigError naming the file and key)."""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections.abc import Callable
from typing import Final

from supervisor_core.config._cron import check_cron
from supervisor_core.config._datefmt import compile_date_format
from supervisor_core.config._fields import string
from supervisor_core.config._specs import ROTATE_INTERVALS, DateFormatter, ExecMode, RotateInterval

__all__ = [
    "MAX_INSTANCES",
    "app_name",
    "compress_delay",
    "cron",
    "date_format",
    "exec_mode",
    "file_mode",
    "group",
    "host",
    "instance_count",
    "instances",
    "rotate_interval",
    "user",
]

MAX_INSTANCES: Final = 1024
_APP_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def app_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _APP_NAME.fullmatch(value) is None:
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            " (it names log files)"
        )
    if value.isdigit():
        raise ValueError("must not be only digits (numbers mean process ids)")
    if value == "all":
        raise ValueError("'all' is reserved (ptm stop all)")
    return value


def instances(value: object) -> int:
    if value == "max":
        return os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError('must be an integer of at least 1, or "max" (one per CPU)')
    return instance_count(value)


def instance_count(value: int) -> int:
    """``value`` if an app may have that many instances (1 to :data:`MAX_INSTANCES`), on every
    path: the file, ``ptm scale``, the API. Raises :class:`ValueError` saying why not."""
    if value < 1:
        raise ValueError("must be at least 1")
    if value > MAX_INSTANCES:
        raise ValueError(f"must be at most {MAX_INSTANCES}")
    return value


def _account(
    value: object, kind: str, by_id: Callable[[int], str], by_name: Callable[[str], str]
) -> str:
    """The name of the ``kind`` (user or group) ``value`` names, by name or number."""
    number = "uid" if kind == "user" else "gid"
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return by_id(value)
        if isinstance(value, str) and value:
            return by_name(value)
    except KeyError:
        raise ValueError(f"no such {kind} on this system") from None
    raise ValueError(f"must be a {kind} name or a {number}")


def user(value: object) -> str:
    """A user of this system, by name or uid (PM2's ``uid``)."""
    return _account(
        value, "user", lambda n: pwd.getpwuid(n).pw_name, lambda s: pwd.getpwnam(s).pw_name
    )


def group(value: object) -> str:
    """A group of this system, by name or gid (PM2's ``gid``)."""
    return _account(
        value, "group", lambda n: grp.getgrgid(n).gr_name, lambda s: grp.getgrnam(s).gr_name
    )


def exec_mode(value: object) -> ExecMode:
    if value == "fork":
        return "fork"
    if value == "cluster":
        return "cluster"
    raise ValueError('must be "fork" or "cluster"')


def host(value: object) -> str:
    text = string(value)
    if any(char.isspace() for char in text):
        raise ValueError("must be a host name or address without spaces")
    return text


def cron(value: object) -> str | None:
    if not isinstance(value, str):
        raise ValueError('must be a cron expression such as "0 3 * * *"')
    if not value.strip():
        return None
    return check_cron(value)


def date_format(value: object) -> DateFormatter | None:
    if not isinstance(value, str):
        raise ValueError("must be a string (moment tokens, or strftime with %)")
    if value == "":
        return None
    return compile_date_format(value)


def rotate_interval(value: object) -> RotateInterval | None:
    """``"daily"``, ``"hourly"``, or ``""`` for none (to turn off a ``[defaults]`` one)."""
    if value == "":
        return None
    for interval in ROTATE_INTERVALS:
        if value == interval:
            return interval
    raise ValueError('must be "daily", "hourly" or "" (size only)')


def compress_delay(value: object) -> int:
    """How many of the newest rotated files stay plain: a count, or logrotate's
    ``delaycompress`` as a boolean (``true`` is 1)."""
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int) or value < 0:
        raise ValueError(
            "must be a number of rotated files to leave uncompressed (0 or more),"
            " or true/false like logrotate's delaycompress"
        )
    return value


def file_mode(value: object) -> int:
    """An octal mode as a string (``"0640"``, ``"640"`` or ``"0o640"``): the owner must be able
    to read and write, other users must not write, and no special bits."""
    if not isinstance(value, str):
        raise ValueError('must be an octal mode in quotes, such as "0640"')
    text = value.strip().lower().removeprefix("0o")
    if not text or len(text) > 4 or any(char not in "01234567" for char in text):
        raise ValueError('must be an octal mode in quotes, such as "0640"')
    mode = int(text, 8)
    if mode > 0o777:
        raise ValueError("must not set setuid, setgid or sticky bits (at most 0777)")
    if mode & 0o600 != 0o600:
        raise ValueError("must let the owner read and write (0600 at least)")
    if mode & 0o002:
        raise ValueError("must not let every user write to the logs (no o+w)")
    return mode
