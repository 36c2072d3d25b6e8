"""A PTM_HOME on a real file system that misbehaves: a read-only mount, a full disk.

Each test mounts a small tmpfs over the test's own PTM_HOME (so only root runs them) and
unmounts it afterwards, once the ``ptm`` fixture has stopped the daemon. Whatever the mount
refuses, ``ptm`` says so in one line naming the file, and works again once the disk has room.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.e2e.conftest import Ptm, wait_gone

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root can mount a tmpfs")


class Mount:
    """A tmpfs mounted over a folder: fill it, empty it, make it read-only."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True
        )

    def fill(self) -> Path:
        """Take every free block: writes on the mount now fail with ENOSPC."""
        filler = self.path / "filler"
        with filler.open("wb") as file:
            try:
                while True:
                    file.write(b"\0" * 65536)
                    file.flush()
            except OSError:
                pass
        assert os.statvfs(self.path).f_bfree == 0
        return filler

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def read_write(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)

    def unmount(self) -> None:
        done = subprocess.run(["umount", str(self.path)], capture_output=True, text=True)
        if done.returncode != 0:  # still busy: detach it now, so no later test meets it
            subprocess.run(["umount", "--lazy", str(self.path)], check=True)
            raise AssertionError(f"{self.path} was busy after the test: {done.stderr}")


@pytest.fixture
def mount(ptm_home: Path) -> Iterator[Mount]:
    mounted = Mount(ptm_home, "2m")
    try:
        yield mounted
    finally:
        mounted.unmount()


@pytest.fixture
def home_ptm(mount: Mount, ptm: Ptm) -> Ptm:
    """``ptm`` on the mounted PTM_HOME (its daemon stops before the mount goes)."""
    return ptm


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert "Traceback" not in text
    return text.rstrip("\n")


def test_a_read_only_home_is_one_line_naming_the_file(mount: Mount, home_ptm: Ptm) -> None:
    mount.read_only()
    for command in (["list"], ["jlist"], ["save"]):
        done = home_ptm(*command)
        assert done.returncode == 2, done
        line = one_line(done.stderr)
        assert line == (
            f"ptm: PTM_HOME: cannot write in the folder {home_ptm.home}: Read-only file system"
        ), command


def foreground_daemon() -> subprocess.CompletedProcess[str]:
    """``ptm daemon --foreground``'s module run on its own, for the PTM_HOME of the test."""
    return subprocess.run(
        [sys.executable, "-m", "supervisor_core.daemon", "--foreground"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_daemon_on_a_read_only_home_says_why_in_one_line(mount: Mount) -> None:
    mount.read_only()
    done = foreground_daemon()
    assert done.returncode == 2, done
    assert one_line(done.stderr) == (
        f"ptm: PTM_HOME: cannot write in the folder {mount.path}: Read-only file system"
    )


def test_a_full_disk_is_named_and_the_daemon_starts_once_it_has_room(
    mount: Mount, home_ptm: Ptm
) -> None:
    """The daemon can write neither its pid nor why it stops: the command says the disk is
    full rather than quoting an empty daemon.log; freeing room is all it takes."""
    filler = mount.fill()
    done = home_ptm("list")
    assert done.returncode == 1, done
    line = one_line(done.stderr)
    assert re.match(r"ptm: the daemon exited \(exit code [12]\) while starting; ", line), line
    assert line.endswith(f"(nothing written: no space left on the file system of {mount.path})")
    # In the foreground, the daemon's own line reaches the terminal.
    done = foreground_daemon()
    assert done.returncode == 2, done
    assert one_line(done.stderr) == (
        f"ptm: PTM_HOME: cannot write in the folder {mount.path}: No space left on device"
    )
    filler.unlink()
    home_ptm.ecosystem(("api", 1))
    home_ptm.ok("start", "ecosystem.toml")
    home_ptm.wait_online(1)


BURST = """
import os, signal, sys, time
def burst(*_):
    for n in range(400):  # 40 kB: more than a full disk has, less than the mount
        print(f"burst line {n:03d} " + "x" * 80, flush=True)
    print("burst done", flush=True)
signal.signal(signal.SIGUSR1, burst)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def dropped(ptm: Ptm) -> float:
    for line in ptm.ok("metrics").splitlines():
        if line.startswith("ptm_log_lines_dropped_total "):
            return float(line.split()[1])
    raise AssertionError("no ptm_log_lines_dropped_total in ptm metrics")


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def burst_ended(log: Path, ptm: Ptm, dropped_by_then: float) -> bool:
    return log.read_text().endswith("burst done\n") or dropped(ptm) >= dropped_by_then


def test_after_a_full_disk_save_keeps_the_old_dump_and_logs_say_what_was_lost(
    mount: Mount, home_ptm: Ptm
) -> None:
    """While the disk is full: the app runs on, ``ptm save`` fails in one line and leaves
    dump.toml (and its .bak) as they were. Once there is room: ``ptm logs`` shows one line
    saying how many lines were lost, then the new lines."""
    home_ptm.write("burst.py", BURST)
    home_ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "burst"
        script = "burst.py"
        kill_timeout = "2s"
        log_date_format = ""
        """,
    )
    home_ptm.ok("start", "ecosystem.toml")
    [row] = home_ptm.wait_online(1)
    out_log = home_ptm.home / "logs" / "burst-out.log"
    wait_for(lambda: out_log.read_text() == "ready\n", "the app never said ready")
    home_ptm.ok("save")
    home_ptm.ok("save")  # so that there is a dump.toml.bak too
    dump, backup = home_ptm.home / "dump.toml", home_ptm.home / "dump.toml.bak"
    saved = (dump.read_bytes(), backup.read_bytes())

    filler = mount.fill()
    os.kill(row["pid"], signal.SIGUSR1)
    wait_for(lambda: dropped(home_ptm) > 0, "no log line was dropped on the full disk")
    done = home_ptm("save")
    assert (done.returncode, done.stdout) == (1, ""), done
    assert one_line(done.stderr) == f"ptm: {dump}: cannot write the dump: No space left on device"
    assert (dump.read_bytes(), backup.read_bytes()) == saved
    assert sorted(p.name for p in home_ptm.home.iterdir() if p.name.startswith(".dump")) == []
    assert home_ptm.jlist()[0]["status"] == "online"

    filler.unlink()
    # ptm tries the file again every half second: a burst before that is dropped too.
    deadline = time.monotonic() + 15
    while not out_log.read_text().endswith("burst done\n"):
        assert time.monotonic() < deadline, "the log file was never written again"
        whole = dropped(home_ptm) + 401  # the count once this burst is dropped whole
        os.kill(row["pid"], signal.SIGUSR1)
        wait_for(
            partial(burst_ended, out_log, home_ptm, whole),
            "a burst was neither written nor dropped",
        )
    shown = home_ptm.ok("logs", "burst", "--nostream", "--lines", "1000", "--out").splitlines()
    notices = [line for line in shown if "[ptm]" in line]
    assert len(notices) == 1, notices
    assert "log lines lost between" in notices[0]
    assert notices[0].endswith(": No space left on device")
    after = shown[shown.index(notices[0]) + 1 :]
    assert [line.split("| ", 1)[1] for line in after[-2:]] == [
        "burst line 399 " + "x" * 80,
        "burst done",
    ]
    home_ptm.ok("save")
    assert backup.read_bytes() == saved[0]  # the whole old dump, kept as the new one's .bak
    assert 'name = "burst"' in dump.read_text()


def test_update_on_a_full_disk_is_refused_and_changes_nothing(mount: Mount, home_ptm: Ptm) -> None:
    """``ptm update`` writes handover.json once it has stopped reading the apps' pipes: on a
    full disk that write failed and the daemon died with every app. The space is now taken
    before that point, so a full disk refuses the update in one line and nothing changes."""
    home_ptm.ecosystem(("api", 2))
    home_ptm.ok("start", "ecosystem.toml")
    before = [(row["pid"], row["restarts"]) for row in home_ptm.wait_online(2)]
    daemon = home_ptm.daemon_pid()
    filler = mount.fill()
    done = home_ptm("update", timeout=90)
    assert (done.returncode, done.stdout) == (1, ""), done
    handover = mount.path / "handover.json"
    assert one_line(done.stderr).startswith(f"ptm: update refused: {handover}: cannot reserve ")
    assert done.stderr.endswith(" KiB the handover needs: No space left on device\n")
    assert not handover.exists()
    assert home_ptm.daemon_pid() == daemon
    rows = home_ptm.wait_online(2)
    assert [(row["pid"], row["restarts"]) for row in rows] == before
    filler.unlink()
    assert home_ptm("update", timeout=90).returncode == 0
    rows = home_ptm.wait_rows(lambda rows: len(rows) == 2 and all(r["pid"] for r in rows))
    assert [(row["pid"], row["restarts"]) for row in rows] == before  # the same processes
    assert home_ptm.daemon_pid() == daemon  # the same pid, re-executed
    assert not handover.exists()


def test_kill_after_a_sigkilled_daemon_on_a_read_only_home_is_one_line(
    mount: Mount, home_ptm: Ptm
) -> None:
    """The home went read-only after the daemon was killed: ``ptm kill`` can neither sweep
    nor remove its files, and says so in one line; once writable, it does both."""
    home_ptm.ecosystem(("api", 1))
    home_ptm.ok("start", "ecosystem.toml")
    [row] = home_ptm.wait_online(1)
    daemon = home_ptm.daemon_pid()
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    assert wait_gone({daemon, row["pid"]}, 10) == set()  # the app stops with it (pdeathsig)
    mount.read_only()
    done = home_ptm("kill")
    assert (done.returncode, done.stdout) == (1, ""), done
    assert one_line(done.stderr) == (
        f"ptm: cannot stop what the killed daemon (pid {daemon}) left:"
        f" {mount.path / 'daemon.log'}: Read-only file system"
    )
    mount.read_write()
    assert home_ptm.ok("kill") == (
        f"[ptm] no daemon running; stopped what the killed daemon (pid {daemon}) left of"
        " 1 run (see daemon.log)\n"
    )
    assert sorted(p.name for p in mount.path.iterdir() if p.name.startswith("ptm.")) == []
