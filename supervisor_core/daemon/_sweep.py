"""``python -P -m supervisor_core.daemon --sweep``: run by ``ptm kill`` when no daemon answers.

A daemon killed with SIGKILL leaves its pid in ``ptm.pid``, its socket file, and whatever of
its apps outlived it (an app deaf to its ``kill_signal``, a grandchild that left its group).
The next daemon stops those at its start; ``ptm kill`` starts no daemon, so it runs this
instead: under the daemon's own lock on ``ptm.pid`` (no daemon can start meanwhile), stop
what the killed daemon left exactly as a daemon's start does (``sweep_leftovers``), close
its runs as ``daemon died``, remove the socket file and the pid file, and print how many
runs were stopped. No app is started; the next daemon starts them as they should be.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys

import anyio

from supervisor_core._home import Home
from supervisor_core.daemon._daemonlog import DaemonLog
from supervisor_core.daemon._restore import sweep_leftovers
from supervisor_core.errors import PtmError
from supervisor_core.process import CgroupTree
from supervisor_core.store import StateStore

__all__ = ["DAEMON_RUNNING", "sweep_main"]

DAEMON_RUNNING = 3
"""The exit code when a live daemon holds ``ptm.pid``: nothing was killed, nothing swept."""


async def _sweep(home: Home, previous: int) -> int:
    # Not open_state: a damaged file is left for the next daemon to set aside and restore
    # from dump.toml; here it is an error (ptm kill says so, the pid file stays).
    store = await StateStore.open(home.state_db)
    try:
        cgroups = CgroupTree.find()
        if cgroups is not None:
            cgroups.sweep()
        return await sweep_leftovers(store, cgroups, previous)
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


def sweep_main(home: Home) -> int:
    """Stop what a killed daemon left (module docstring). Prints the number of runs stopped
    on stdout (nothing when no daemon was killed); exit code :data:`DAEMON_RUNNING` when a
    daemon runs (it holds the lock), 1 with one line on stderr when the sweep fails."""
    try:
        lock_fd = os.open(home.pid_file, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0  # every daemon stopped cleanly (each removes the file)
    except OSError as exc:
        print(f"ptm: {home.pid_file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return DAEMON_RUNNING  # starting (its socket comes last): ptm kill waits for it
        word = os.pread(lock_fd, 32, 0).decode(errors="replace").strip()
        if word.isdigit():
            out = os.dup(1)  # the log moves fds 1 and 2 to daemon.log: the count goes here
            daemon_log = DaemonLog.install(home)
            try:
                count = anyio.run(_sweep, home, int(word))
                os.write(out, f"{count}\n".encode())
            except PtmError as exc:
                print(f"ptm: {exc}", file=sys.stderr)
                return 1
            finally:
                os.close(out)
                daemon_log.close()
        with contextlib.suppress(FileNotFoundError):
            home.socket.unlink()  # the killed daemon's: nothing listens on it
        home.pid_file.unlink()
        return 0
    finally:
        os.close(lock_fd)
