"""The values of an app's keys: each a plain function ``value -> T`` that raises ValueError
with a short reason (``Table`` turns it into a ConfigError naming the file and key)."""

from __future__ import annotations

import grp
import os
import pwd
import re
from typing import Final

from supervisor_core.config._cron import check_cron
from supervisor_core.config._datefmt import compile_date_format
from supervisor_core.config._fields import string
from supervisor_core.config._specs import DateFormatter, ExecMode

__all__ = [
    "MAX_INSTANCES",
    "app_name",
    "cron",
    "date_format",
    "exec_mode",
    "group",
    "host",
    "instance_count",
    "instances",
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


def user(value: object) -> str:
    """A user of this system, by name or uid (PM2's ``uid``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return pwd.getpwuid(value).pw_name
        except KeyError:
            raise ValueError("no user with this uid on this system") from None
    if not isinstance(value, str) or not value:
        raise ValueError("must be a user name or a uid")
    try:
        return pwd.getpwnam(value).pw_name
    except KeyError:
        raise ValueError("no such user on this system") from None


def group(value: object) -> str:
    """A group of this system, by name or gid (PM2's ``gid``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return grp.getgrgid(value).gr_name
        except KeyError:
            raise ValueError("no group with this gid on this system") from None
    if not isinstance(value, str) or not value:
        raise ValueError("must be a group name or a gid")
    try:
        return grp.getgrnam(value).gr_name
    except KeyError:
        raise ValueError("no such group on this system") from None


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
