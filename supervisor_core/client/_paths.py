"""Where the daemon keeps its files, without importing the config loader (``ptm list`` is light)."""

from __future__ import annotations

import os
from pathlib import Path

SOCKET_NAME = "ptm.sock"
PID_NAME = "ptm.pid"
LOCK_NAME = "daemon.lock"
LOG_NAME = "daemon.log"


def default_home() -> Path:
    """``$PTM_HOME``, or ``~/.ptm``, absolute (the same rule as the config loader's)."""
    path = Path(os.environ.get("PTM_HOME") or "~/.ptm").expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return Path(os.path.normpath(path))
