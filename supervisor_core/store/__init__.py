"""What survives the daemon: ``state.db`` (apps and their runs) and ``dump.toml`` (ptm save).

* :class:`StateStore` keeps, in SQLite, every app the daemon manages (its ecosystem entry, the
  folder and file it came from, its ``--env``, whether it should run, its ``ptm list`` id) and
  every run of every instance (pid, start, end, exit code, signal, reason).
* :func:`write_dump` / :func:`read_dump` write and read ``dump.toml``, an ordinary ecosystem
  file in which stopped apps say ``autostart = false``.
* :func:`stored_apps_from_file` turns an ecosystem file into standalone entries to store;
  :func:`app_spec` turns a stored app back into an :class:`~supervisor_core.config.AppSpec`.
"""

from supervisor_core.store._db import (
    Desired,
    OpenRun,
    StateStore,
    StoredApp,
    StoredRun,
)
from supervisor_core.store._dump import backup_path, dump_entry, read_dump, write_dump
from supervisor_core.store._entries import app_spec, merged_entry, stored_apps_from_file

__all__ = [
    "Desired",
    "OpenRun",
    "StateStore",
    "StoredApp",
    "StoredRun",
    "app_spec",
    "backup_path",
    "dump_entry",
    "merged_entry",
    "read_dump",
    "stored_apps_from_file",
    "write_dump",
]
