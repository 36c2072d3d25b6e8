"""The files of one ``PTM_HOME``, and what makes a ``PTM_HOME`` unusable."""

from __future__ import annotations

import os
from pathlib import Path

from supervisor_core.errors import ConfigError

__all__ = ["SOCKET_PATH_MAX", "Home"]

SOCKET_PATH_MAX = 107
"""Bytes a Unix socket's path may have on Linux (``sun_path`` is 108, with its NUL)."""


class _File:
    """A file (or folder) of a home by its name: ``home.socket`` is ``home.root / "ptm.sock"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, home: Home, owner: type[Home] | None = None) -> Path:
        return home.root / self.name


class Home:
    """Where one daemon keeps its socket, pid file, state and logs.

    A value (compared and hashed by ``root``, read-only), written out rather than a frozen
    dataclass: ``ptm jlist`` needs this class, and ``dataclasses`` imports ``inspect``, about
    6 ms of every command.
    """

    __slots__ = ("root",)
    root: Path

    def __init__(self, root: Path) -> None:
        object.__setattr__(self, "root", root)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Home is read-only: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        return other.root == self.root if isinstance(other, Home) else NotImplemented

    def __hash__(self) -> int:
        return hash((Home, self.root))

    def __repr__(self) -> str:
        return f"Home(root={self.root!r})"

    @classmethod
    def from_env(cls) -> Home:
        """``$PTM_HOME``, or ``~/.ptm``: made absolute and normalised, read now, never created
        here. The one place ptm reads ``PTM_HOME``."""
        value = os.environ.get("PTM_HOME") or "~/.ptm"
        return cls(Path(os.path.abspath(os.path.expanduser(value))))

    socket = _File("ptm.sock")
    pid_file = _File("ptm.pid")
    spawn_lock = _File("daemon.lock")
    state_db = _File("state.db")
    daemon_log = _File("daemon.log")
    daemon_config = _File("daemon.toml")
    logs = _File("logs")
    dump = _File("dump.toml")

    def create(self) -> None:
        """Create the folder (mode 0700) if it is missing. A folder that cannot be created,
        or whose socket path would be too long, is a :class:`ConfigError` naming
        ``PTM_HOME`` (before anything is created)."""
        too_long = self.socket_too_long()
        if too_long is not None:
            raise too_long
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self.unusable(exc) from None

    def socket_too_long(self) -> ConfigError | None:
        """The :class:`ConfigError` of a ``ptm.sock`` longer than a socket path may be."""
        size = len(os.fsencode(self.socket))
        if size <= SOCKET_PATH_MAX:
            return None
        return ConfigError(
            f"too long for a Unix socket: {self.socket} would be {size} bytes, at most"
            f" {SOCKET_PATH_MAX} are possible; set PTM_HOME to a shorter path",
            key="PTM_HOME",
        )

    def unusable(self, exc: OSError) -> ConfigError:
        """What ``exc``, met creating the folder or a file in it, tells the user about
        ``PTM_HOME``: one line naming the folder."""
        root = self.root
        if os.path.islink(root) and not os.path.exists(root):
            reason = f"cannot create the folder {root}: it is a symbolic link to nothing"
        elif isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = f"not a folder: {root} (it, or a folder above it, is a file)"
        elif os.path.isdir(root):
            reason = f"cannot write in the folder {root}: {exc.strerror or exc}"
        else:
            reason = f"cannot create the folder {root}: {exc.strerror or exc}"
        return ConfigError(reason, key="PTM_HOME")
