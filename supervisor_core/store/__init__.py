"""What survives the daemon: ``state.db`` (apps and their runs) and ``dump.toml`` (ptm save).

* :class:`StateStore` keeps, in SQLite, every app the daemon manages (its ecosystem entry, the
  folder and file it came from, its ``--env``, whether it should run, its ``ptm list`` id) and
  every run of every instance (pid, start, end, exit code, signal, reason).
* each process's cpu and memory, one row a minute for 24 hours (``history``).
* :func:`write_dump` / :func:`read_dump` write and read ``dump.toml``, an ordinary ecosystem
  file in which stopped apps say ``autostart = false``.

The store only persists: what an entry means is :mod:`supervisor_core.config`'s business
(``compile_entry`` turns a stored entry back into its spec, ``dump_table`` into TOML).
"""

from supervisor_core.store._db import (
    DamagedState,
    Desired,
    MinuteRow,
    StateStore,
    StoredApp,
)
from supervisor_core.store._dump import (
    backup_path,
    dump_entry,
    dump_ids,
    read_dump,
    write_dump,
)
from supervisor_core.store._recover import OpenedState, open_state

__all__ = [
    "DamagedState",
    "Desired",
    "MinuteRow",
    "OpenedState",
    "StateStore",
    "StoredApp",
    "backup_path",
    "dump_entry",
    "dump_ids",
    "open_state",
    "read_dump",
    "write_dump",
]
