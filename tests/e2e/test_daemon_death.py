"""A daemon killed with SIGKILL: its apps stop with it, and the next daemon sweeps whatever
survived (a grandchild that left the group and ignores SIGTERM) before starting again, so an
app on a fixed TCP port comes back once, without a port clash."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import time

import psutil
import pytest

from supervisor_core.process import CgroupTree
from tests.e2e.conftest import Ptm, wait_gone
from tests.helpers import alive, free_port, kill_if_alive, sqlite_locker

STUBBORN = """
import os, signal, subprocess, sys, time
code = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('grandchild', os.getpid(), flush=True); time.sleep(120)"
)
child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
print("main", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


def read_pids(ptm: Ptm, timeout: float = 15) -> dict[str, int]:
    log = ptm.home / "logs" / "stubborn-out.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        pids = {line.split()[0]: int(line.split()[1]) for line in text.splitlines() if line}
        if {"main", "grandchild"} <= set(pids):
            return pids
        time.sleep(0.05)
    raise AssertionError(f"no pids in {log}")


def start_stubborn(ptm: Ptm) -> dict[str, int]:
    """Start the app whose grandchild leaves its group and ignores SIGTERM; its pids."""
    ptm.write("stubborn.py", STUBBORN)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "stubborn"
        script = "stubborn.py"
        kill_timeout = "1s"
        log_date_format = ""
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    return read_pids(ptm)


def test_apps_stop_with_a_sigkilled_daemon_and_leftovers_are_swept(ptm: Ptm) -> None:
    first = start_stubborn(ptm)
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        os.kill(daemon, signal.SIGKILL)
        # No ptm command yet: the kernel told the app (pdeathsig) and it stopped.
        assert wait_gone({first["main"]}, 10) == set()
        # Its grandchild left the process group and ignores SIGTERM: it is still there...
        assert alive(first["grandchild"])
        (ptm.home / "logs" / "stubborn-out.log").write_text("")
        # ...until the next command starts a daemon, which sweeps it by its run id first.
        rows = ptm.wait_online(1)
        assert wait_gone({first["grandchild"]}, 10) == set()
        second = read_pids(ptm)
        assert rows[0]["pid"] == second["main"] != first["main"]
        described = ptm.ok("describe", "stubborn")
        assert "daemon died" in described
        ptm.app_pids.add(second["grandchild"])
    finally:
        kill_if_alive(list(first.values()))


@pytest.mark.skipif(
    CgroupTree.find() is None, reason="no writable cgroup v2 hierarchy on this machine"
)
def test_a_run_the_killed_daemon_had_not_recorded_is_stopped_by_its_cgroup(ptm: Ptm) -> None:
    """The daemon writes each run to state.db a moment after spawning it; one killed in that
    moment leaves a run the next daemon has no record of. Its grandchild (out of the group,
    deaf to SIGTERM) is still found, in the run's cgroup, named after the killed daemon, and
    stopped; the cgroup is removed. The record is deleted here to stand for that moment."""
    tree = CgroupTree.find()
    assert tree is not None
    first = start_stubborn(ptm)
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        [cgroup] = [path for path in tree.base.glob(f"{daemon}-*")]
        assert first["grandchild"] in CgroupTree.members(cgroup)
        os.kill(daemon, signal.SIGKILL)
        assert wait_gone({first["main"]}, 10) == set()
        assert alive(first["grandchild"])
        with contextlib.closing(sqlite3.connect(ptm.home / "state.db")) as db, db:
            db.execute("DELETE FROM runs")  # no record of the run: as if killed before it
        (ptm.home / "logs" / "stubborn-out.log").write_text("")
        ptm.wait_online(1)  # the next daemon
        assert wait_gone({first["grandchild"]}, 15) == set()
        assert not cgroup.exists()
        second = read_pids(ptm)
        ptm.app_pids.add(second["grandchild"])
    finally:
        kill_if_alive(list(first.values()))


LISTENER = """
import os, signal, socket, sys
if sys.argv[2] == "ignore-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pid = os.getpid()
server = socket.socket()  # no SO_REUSEADDR: any socket still bound to the port is a clash
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print(f"listening {pid}", flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        conn.settimeout(5)
        conn.sendall(f"{pid}\\n".encode())
        try:
            conn.recv(1)  # the client closes first: no TIME_WAIT is left on the app's port
        except OSError:
            pass
"""


def wait_listening(ptm: Ptm, pid: int, timeout: float = 15) -> None:
    log = ptm.home / "logs" / "listener-out.log"
    deadline = time.monotonic() + timeout
    while f"listening {pid}" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, f"{pid} never listened: {log}"
        time.sleep(0.02)


def answer_on(port: int) -> int:
    """The pid of the process that accepts a connection on ``port``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn, conn.makefile() as reply:
        return int(reply.readline())


def listeners_on(port: int) -> list[int | None]:
    """The pids of every socket listening on ``port`` on 127.0.0.1 (None: not ours to see)."""
    return [
        conn.pid
        for conn in psutil.net_connections(kind="tcp4")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    ]


def refused_on(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize("behaviour", ["stop-on-sigterm", "ignore-sigterm"])
def test_an_app_on_a_tcp_port_comes_back_once_without_a_port_clash(
    ptm: Ptm, behaviour: str
) -> None:
    """stop-on-sigterm: the app stops with the daemon (pdeathsig) and frees its port.
    ignore-sigterm: the old app outlives the daemon, still listening; the next daemon must
    stop it (SIGKILL after kill_timeout) before it starts the app, or the bind would fail."""
    port = free_port()
    ptm.write("listener.py", LISTENER)
    ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "listener"
        script = "listener.py"
        args = ["{port}", "{behaviour}"]
        kill_timeout = "1s"
        log_date_format = ""
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    old_app = ptm.wait_online(1)[0]["pid"]
    try:
        wait_listening(ptm, old_app)
        assert answer_on(port) == old_app
        daemon = ptm.daemon_pid()
        assert daemon is not None
        os.kill(daemon, signal.SIGKILL)
        assert wait_gone({daemon}, 10) == set()
        if behaviour == "stop-on-sigterm":
            assert wait_gone({old_app}, 10) == set()
            assert refused_on(port)
        else:  # the clash the next daemon must avoid: the old process still holds the port
            assert answer_on(port) == old_app

        rows = ptm.wait_online(1)  # the next command starts a new daemon, which takes over
        assert ptm.daemon_pid() not in (None, daemon)
        new_app = rows[0]["pid"]
        assert new_app != old_app
        assert wait_gone({old_app}, 10) == set()
        wait_listening(ptm, new_app)
        assert answer_on(port) == new_app
        assert listeners_on(port) == [new_app]
        row = ptm.wait_online(1)[0]
        assert (row["pid"], row["restarts"], row["unstable_restarts"]) == (new_app, 0, 0)
        errors = ptm.home / "logs" / "listener-error.log"
        assert "Address already in use" not in (errors.read_text() if errors.exists() else "")
        out = (ptm.home / "logs" / "listener-out.log").read_text().splitlines()
        assert out == [f"listening {old_app}", f"listening {new_app}"]
    finally:
        kill_if_alive([old_app])


@pytest.mark.skipif(
    CgroupTree.find() is None, reason="no writable cgroup v2 hierarchy on this machine"
)
def test_a_daemon_that_fails_to_start_leaves_the_killed_daemons_leftovers_to_the_next(
    ptm: Ptm,
) -> None:
    """After a SIGKILL, the first daemon to start cannot open state.db (another process
    holds it locked) and exits. The killed daemon's pid must survive that failed start:
    the daemon after it needs it to find the killed daemon's unrecorded run (its cgroup is
    named after it) and stop the grandchild left in it. The record is deleted, as in the
    test above, to stand for a run the killed daemon had not written yet."""
    tree = CgroupTree.find()
    assert tree is not None
    first = start_stubborn(ptm)
    locker: subprocess.Popen[str] | None = None
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        [cgroup] = [path for path in tree.base.glob(f"{daemon}-*")]
        os.kill(daemon, signal.SIGKILL)
        assert wait_gone({first["main"]}, 10) == set()
        assert alive(first["grandchild"])
        with contextlib.closing(sqlite3.connect(ptm.home / "state.db")) as db, db:
            db.execute("DELETE FROM runs")
        locker = sqlite_locker(ptm.home / "state.db", exclusive=True)
        failed = ptm("list")
        assert failed.returncode == 1, failed
        assert "database is locked" in failed.stderr
        assert alive(first["grandchild"])
        locker.communicate(timeout=10)  # the lock goes with the locker
        (ptm.home / "logs" / "stubborn-out.log").write_text("")
        ptm.wait_online(1)
        assert wait_gone({first["grandchild"]}, 15) == set()
        assert not cgroup.exists()
        ptm.app_pids.add(read_pids(ptm)["grandchild"])
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
            locker.wait()
        kill_if_alive(list(first.values()))


def test_kill_after_a_sigkilled_daemon_stops_what_it_left(ptm: Ptm) -> None:
    """``ptm kill`` leaves nothing behind, also when the daemon was killed with SIGKILL
    before it: it used to say "no daemon running" and leave the survivors (a grandchild out
    of the group, deaf to SIGTERM) running unmanaged, and the socket file in place. The
    apps stay as they should be: the next daemon starts them again, once each."""
    first = start_stubborn(ptm)
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        os.kill(daemon, signal.SIGKILL)
        assert wait_gone({first["main"]}, 10) == set()
        assert alive(first["grandchild"])
        out = ptm.ok("kill")
        assert out == (
            f"[ptm] no daemon running; stopped what the killed daemon (pid {daemon}) left of"
            " 1 run (see daemon.log)\n"
        )
        assert wait_gone({first["grandchild"]}, 10) == set()  # kill waited for it
        assert not (ptm.home / "ptm.sock").exists()
        assert not (ptm.home / "ptm.pid").exists()
        assert ptm.ok("kill") == "[ptm] no daemon running\n"  # nothing left to stop
        assert "outlived the previous daemon" in (ptm.home / "daemon.log").read_text()
        (ptm.home / "logs" / "stubborn-out.log").write_text("")
        row = ptm.wait_online(1)[0]
        second = read_pids(ptm)
        ptm.app_pids.add(second["grandchild"])
        assert (row["pid"], row["restarts"]) == (second["main"], 0)
        assert "daemon died" in ptm.ok("describe", "stubborn")
    finally:
        kill_if_alive(list(first.values()))


def test_kill_after_a_sigkilled_daemon_with_state_db_locked_fails_in_one_line(ptm: Ptm) -> None:
    """The sweep needs state.db: held locked by another process, ``ptm kill`` says so in one
    line, exit 1, and keeps the killed daemon's pid, so the same command works later."""
    first = start_stubborn(ptm)
    locker: subprocess.Popen[str] | None = None
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        os.kill(daemon, signal.SIGKILL)
        assert wait_gone({first["main"]}, 10) == set()
        locker = sqlite_locker(ptm.home / "state.db", exclusive=True)
        done = ptm("kill")
        assert (done.returncode, done.stdout) == (1, ""), done
        state = ptm.home / "state.db"
        assert done.stderr == f"ptm: {state}: cannot use the state database: database is locked\n"
        assert alive(first["grandchild"])
        assert ptm.daemon_pid() == daemon
        locker.communicate(timeout=10)
        assert ptm.ok("kill").startswith("[ptm] no daemon running; stopped what the killed")
        assert wait_gone({first["grandchild"]}, 10) == set()
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
            locker.wait()
        kill_if_alive(list(first.values()))


DEAF = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("deaf", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


def test_the_first_command_waits_while_the_next_daemon_stops_a_slow_survivor(ptm: Ptm) -> None:
    """The app ignores SIGTERM, so it outlives the SIGKILLed daemon (pdeathsig is SIGTERM),
    and the next daemon gives it its kill_timeout (12 s) before SIGKILL, then starts it
    again: only then does it answer. The first command used to give up after 10 s ("did not
    answer"); it now waits for the daemon it started, since that one holds ptm.pid."""
    ptm.write("deaf.py", DEAF)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "deaf"
        script = "deaf.py"
        kill_timeout = "12s"
        log_date_format = ""
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    [old] = ptm.wait_online(1)
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        os.kill(daemon, signal.SIGKILL)
        assert wait_gone({daemon}, 10) == set()
        assert alive(old["pid"])  # deaf to the SIGTERM the kernel sent it
        begun = time.monotonic()
        rows = ptm.jlist()
        assert time.monotonic() - begun >= 11  # the survivor's kill_timeout, then SIGKILL
        assert [(row["name"], row["restarts"]) for row in rows] == [("deaf", 0)]
        assert rows[0]["pid"] != old["pid"] and not alive(old["pid"])
        assert ptm.daemon_pid() not in (None, daemon)
    finally:
        kill_if_alive([old["pid"]])
