"""A PTM_HOME on a real file system that misbehaves: a read-only mount, a full disk.

Each test mounts a small tmpfs over the test's own PTM_HOME (so only root runs them) and
unmounts it afterwards, once the ``ptm`` fixture has stopped the daemon. Whatever the mount
refuses, ``ptm`` says so in one line naming the file, and works again once the disk has room.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Ptm

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
        assert done.returncode == 1, done
        line = one_line(done.stderr)
        assert line == (
            f"ptm: cannot start the daemon: {home_ptm.home / 'daemon.lock'}: Read-only file system"
        ), command


def test_the_daemon_on_a_read_only_home_says_why_in_one_line(mount: Mount) -> None:
    mount.read_only()
    done = subprocess.run(
        [sys.executable, "-m", "supervisor_core.daemon", "--foreground"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, done
    assert one_line(done.stderr) == (
        f"ptm: cannot start the daemon: {mount.path / 'ptm.pid'}: Read-only file system"
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
    assert line.startswith("ptm: the daemon exited (exit code 1) while starting; "), line
    assert line.endswith(f"(nothing written: no space left on the file system of {mount.path})")
    # In the foreground, the daemon's own line reaches the terminal.
    done = subprocess.run(
        [sys.executable, "-m", "supervisor_core.daemon", "--foreground"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, done
    assert one_line(done.stderr) == (
        f"ptm: cannot start the daemon: {mount.path / 'ptm.pid'}: No space left on device"
    )
    filler.unlink()
    home_ptm.ecosystem(("api", 1))
    home_ptm.ok("start", "ecosystem.toml")
    home_ptm.wait_online(1)
