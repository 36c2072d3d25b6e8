"""The files of one ``PTM_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Home"]


class _File:
    """A file (or folder) of a home by its name: ``home.socket`` is ``home.root / "ptm.sock"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, home: Home, owner: type[Home] | None = None) -> Path:
        return home.root / self.name


@dataclass(frozen=True)
class Home:
    """Where one daemon keeps its socket, pid file, state and logs."""

    root: Path

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
