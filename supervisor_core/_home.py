"""The files of one ``PTM_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Home"]


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

    @property
    def socket(self) -> Path:
        return self.root / "ptm.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "ptm.pid"

    @property
    def spawn_lock(self) -> Path:
        return self.root / "daemon.lock"

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def daemon_log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def daemon_config(self) -> Path:
        return self.root / "daemon.toml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def dump(self) -> Path:
        return self.root / "dump.toml"

    def create(self) -> None:
        """Create the folder (mode 0700) if it is missing."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
