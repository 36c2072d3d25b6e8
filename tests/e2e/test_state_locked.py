"""``state.db`` held locked by another process while the daemon runs.

A command whose change the daemon cannot write fails in one line and changes nothing, so
that the same command works once the lock is gone, and what ``ptm list`` shows is what the
next daemon brings back.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.e2e.conftest import PTM, Ptm
from tests.helpers import sqlite_locker


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another process holds the write lock of the SQLite file at ``path``."""
    locker = sqlite_locker(path)
    try:
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


def test_kill_while_the_daemon_starts_waits_and_stops_it(ptm: Ptm) -> None:
    """A daemon holds ptm.pid from its first instant but binds its socket last, once it has
    restored every app (here it waits for state.db, held locked). ``ptm kill`` in between
    must not say "no daemon running" and leave it to start the apps: it waits for it and
    stops it."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    ptm.ok("kill")
    locker = sqlite_locker(ptm.home / "state.db", exclusive=True)
    daemon: subprocess.Popen[bytes] | None = None
    killer: subprocess.Popen[str] | None = None
    try:
        daemon = subprocess.Popen(
            [sys.executable, "-P", "-m", "supervisor_core.daemon"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ptm.home,
        )
        wait_for(lambda: ptm.daemon_pid() == daemon.pid, "the daemon never wrote its pid")
        killer = subprocess.Popen(
            [*PTM, "kill"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # Once ptm kill has found the daemon starting (its sweep found ptm.pid locked)...
        wait_for(lambda: sweeps_of(killer.pid), "ptm kill never looked at ptm.pid")
        locker.communicate(timeout=10)  # ...the daemon may go on
        out, err = killer.communicate(timeout=60)
        assert (killer.returncode, err) == (0, ""), (out, err)
        assert out == f"[ptm] every app stopped; daemon stopped (pid {daemon.pid})\n"
        assert daemon.wait(timeout=10) == 0
    finally:
        for proc in (locker, daemon, killer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def sweeps_of(pid: int) -> bool:
    """Whether the process ``pid`` (ptm kill) runs ``daemon --sweep`` now."""
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return False
    found = False
    for child in children:
        with contextlib.suppress(psutil.Error):
            found = found or "--sweep" in child.cmdline()
    return found


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_command_while_the_daemon_starts_waits_for_it_not_for_a_second_one(
    ptm: Ptm,
) -> None:
    """A daemon that is starting holds ptm.pid but does not answer yet (here it waits for
    state.db, held locked; after a SIGKILL it may be stopping survivors for up to their
    kill_timeout). A command in between used to start a second daemon, which exited at once
    ("a daemon is already running"), and the command quoted that. It now waits for the
    daemon that is starting, and when that one fails says why."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    ptm.ok("kill")
    locker = sqlite_locker(ptm.home / "state.db", exclusive=True)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        log = (ptm.home / "daemon.log").open("ab")
        with log:
            daemon = subprocess.Popen(
                [sys.executable, "-P", "-m", "supervisor_core.daemon"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=ptm.home,
            )
        wait_for(lambda: ptm.daemon_pid() == daemon.pid, "the daemon never wrote its pid")
        done = ptm("jlist")
        assert daemon.wait(timeout=10) == 1  # state.db stayed locked: it gave up
        assert done.returncode == 1, done
        assert "already running" not in done.stderr
        assert "cannot use the state database: database is locked" in done.stderr
        assert "already running" not in (ptm.home / "daemon.log").read_text()
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        locker.kill()
        locker.communicate(timeout=10)  # and its pipes are closed


def test_runs_that_cannot_be_recorded_are_said_in_one_line_a_minute(ptm: Ptm) -> None:
    """Each run start and end the daemon could not write while state.db was locked put a
    traceback in daemon.log; now one line says it, once a minute."""
    ptm.write("brief.py", "import time\nprint('up', flush=True)\ntime.sleep(0.2)\n")
    ptm.write(
        "brief.toml",
        '[[apps]]\nname = "brief"\nscript = "brief.py"\nmax_restarts = 100\nkill_timeout = "1s"\n',
    )
    ptm.ok("start", "--no-wait", "brief.toml")
    ptm.wait_rows(lambda rows: rows[0]["pid"] is not None, timeout=20)
    log_file = ptm.home / "daemon.log"
    with write_locked(ptm.home / "state.db"):
        deadline = time.monotonic() + 30  # a write gives up after the 5 s busy timeout
        while "could not record" not in log_file.read_text():
            assert time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.05)
        ptm.wait_rows(lambda rows: rows[0]["restarts"] >= 4, timeout=30)
    ptm.ok("stop", "brief")
    log = log_file.read_text()
    said = [line for line in log.splitlines() if "could not record" in line]
    assert len(said) == 1, log
    assert "of a run of brief:0: " in said[0] and "database is locked" in said[0], said
    assert "Traceback" not in log, log
