"""Where the daemon keeps its files, without importing the config loader (``ptm list`` is light)."""

from __future__ import annotations

from pathlib import Path

from supervisor_core._home import Home

SOCKET_NAME = "ptm.sock"
PID_NAME = "ptm.pid"
LOCK_NAME = "daemon.lock"
LOG_NAME = "daemon.log"


def default_home() -> Path:
    """``$PTM_HOME``, or ``~/.ptm``, absolute (:meth:`Home.from_env`, the one rule)."""
    return Home.from_env().root
