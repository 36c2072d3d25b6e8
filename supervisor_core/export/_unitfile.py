"""Writing values into systemd unit files: quoting and ``%`` specifiers.

systemd splits ``ExecStart=`` like a shell would (double and single quotes, backslash escapes)
and expands ``%`` specifiers everywhere, so every value ptm writes goes through here.
"""

from __future__ import annotations

import re
from typing import Final

from supervisor_core.errors import ConfigError

__all__ = ["environment_line", "exec_line", "exec_program", "one_line"]

_BARE_ARG: Final = re.compile(r"[^\s;\"'\\$]+")


def one_line(value: str, key: str) -> str:
    """``value`` if it is one non-empty line (a unit file has no way to write more)."""
    if not value or "\n" in value or "\r" in value or "\0" in value:
        raise ConfigError(
            "must be one non-empty line of text", key=key, value=value, has_value=True
        )
    return value


def exec_program(path: str, key: str = "program") -> str:
    """The program of an ``Exec*=`` line: ``%`` escaped, quoted when it holds a space.

    systemd refuses an executable path with a quote or a backslash in it, so those are an
    error here rather than a unit that will not load.
    """
    if re.search(r"[\"'\\]", path):
        raise ConfigError(
            "systemd cannot run a program whose path contains a quote or a backslash",
            key=key,
            value=path,
            has_value=True,
        )
    text = path.replace("%", "%%")
    return text if _BARE_ARG.fullmatch(path) else f'"{text}"'


def _argument(arg: str) -> str:
    text = arg.replace("%", "%%").replace("$", "$$")
    if arg and _BARE_ARG.fullmatch(arg):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv: tuple[str, ...] | list[str], key: str = "ExecStart") -> str:
    """``KEY=program arg...`` with every argument quoted as systemd reads it back."""
    for arg in argv:
        if "\n" in arg or "\r" in arg or "\0" in arg:
            raise ConfigError("must be one line of text", key=key, value=arg, has_value=True)
    return f"{key}=" + " ".join([exec_program(argv[0]), *(_argument(a) for a in argv[1:])])


def environment_line(name: str, value: str) -> str:
    """An ``Environment=`` line; the assignment is quoted when it holds a space or a quote."""
    assignment = f"{name}={value}".replace("%", "%%")
    if re.search(r"[\s\"'\\]", assignment):
        assignment = '"' + assignment.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"Environment={assignment}"
