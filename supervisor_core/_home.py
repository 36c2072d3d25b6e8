"""The files of one ``PTM_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Home"]


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
        """Create the folder (mode 0700) if it is missing."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
