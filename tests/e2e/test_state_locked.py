"""``state.db`` held locked by another process while the daemon runs.

A command whose change the daemon cannot write fails in one line and changes nothing, so
that the same command works once the lock is gone, and what ``ptm list`` shows is what the
next daemon brings back.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.conftest import Ptm

WRITE_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the write lock: the daemon can read, not write
db.execute("UPDATE apps SET desired = desired")
print("locked", flush=True)
sys.stdin.read()  # hold it until the test closes our stdin
"""


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another process holds the write lock of the SQLite file at ``path``."""
    locker = subprocess.Popen(
        [sys.executable, "-c", WRITE_LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
        yield
        locker.communicate(timeout=10)
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()


def summary(ptm: Ptm) -> list[tuple[str, str, int | None]]:
    return [(row["name"], row["status"], row["pid"]) for row in ptm.jlist()]


def test_a_delete_the_database_refuses_changes_nothing(ptm: Ptm) -> None:
    """Before: the app was deleted from the running daemon but stayed in state.db, so a
    second ``ptm delete`` said "no app named 'api'" and the next daemon started it again."""
    ptm.ecosystem(("api", 1), ("web", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    before = summary(ptm)
    with write_locked(ptm.home / "state.db"):
        done = ptm("delete", "api")
        assert done.returncode == 1, done
        assert (
            done.stderr
            == f"ptm: {ptm.home / 'state.db'}: state database error: database is locked\n"
        )
        assert summary(ptm) == before  # still there, still running: nothing changed
    assert ptm.ok("delete", "api").startswith("[ptm] deleted api\n")
    assert [row["name"] for row in ptm.jlist()] == ["web"]
    ptm.ok("kill")
    ptm.wait_online(1)  # the next daemon brings back web alone
    assert [row["name"] for row in ptm.jlist()] == ["web"]
    log = (ptm.home / "daemon.log").read_text()
    assert "could not record a run" not in log, log


def test_a_stop_or_start_the_database_refuses_changes_nothing(ptm: Ptm) -> None:
    """Before: ``ptm stop api`` failed, yet api was stopped while state.db still said
    "running", so the next daemon (a reboot) started it again; a failed ``ptm start`` left
    it running while the next daemon would keep it stopped."""
    locked = f"ptm: {ptm.home / 'state.db'}: state database error: database is locked\n"
    ptm.ecosystem(("api", 1), ("web", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    before = summary(ptm)
    with write_locked(ptm.home / "state.db"):
        done = ptm("stop", "api")
        assert (done.returncode, done.stderr) == (1, locked), done
        assert summary(ptm) == before
    ptm.ok("stop", "api")
    stopped = summary(ptm)
    assert [status for _, status, _ in stopped] == ["stopped", "online"]
    with write_locked(ptm.home / "state.db"):
        done = ptm("start", "api")
        assert (done.returncode, done.stderr) == (1, locked), done
        assert summary(ptm) == stopped
    ptm.ok("kill")
    rows = ptm.wait_rows(lambda rows: [r["status"] for r in rows] == ["stopped", "online"])
    assert [row["name"] for row in rows] == ["api", "web"]
