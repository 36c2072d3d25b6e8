"""Output of real children through the supervisor into rotating log files."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from supervisor_core import Supervisor
from supervisor_core.config import LogSpec, RestartPolicy
from supervisor_core.logs import rotated_files
from tests.helpers import Output, alive, eventually, kill_if_alive, python_app

pytestmark = pytest.mark.anyio


def read_all(path: Path) -> list[bytes]:
    """Every line of a log and its rotated files, oldest first."""
    lines: list[bytes] = []
    for part in [*rotated_files(path), path]:
        lines.extend(part.read_bytes().splitlines())
    return lines


async def test_200k_lines_through_rotation_none_lost_duplicated_or_split(tmp_path: Path) -> None:
    code = """
        import sys
        out = sys.stdout
        for i in range(200_000):
            out.write(f"line {i:06d} " + "x" * (i % 50) + "\\n")
            if i % 1000 == 0:
                sys.stderr.write(f"err {i}\\n")
    """
    logs = LogSpec(
        out_file=tmp_path / "logs" / "chatty-out.log",
        error_file=tmp_path / "logs" / "chatty-error.log",
        date_format=None,
        max_size=256 * 1024,
        max_files=1000,
    )
    spec = python_app(tmp_path, "chatty", code, logs=logs, restart=RestartPolicy(autorestart=False))
    async with Supervisor() as sup:
        await sup.add(spec)
        await sup.wait_until(lambda infos: infos[0].status == "stopped", timeout=60)
    out = read_all(logs.out_file)
    assert len(rotated_files(logs.out_file)) > 10
    expected = [f"line {i:06d} ".encode() + b"x" * (i % 50) for i in range(200_000)]
    assert out == expected
    assert read_all(logs.error_file) == [f"err {i}".encode() for i in range(0, 200_000, 1000)]


async def test_lines_are_timestamped_with_the_date_format(tmp_path: Path) -> None:
    from supervisor_core.config import compile_date_format

    logs = LogSpec(
        out_file=tmp_path / "ts-out.log",
        error_file=tmp_path / "ts-error.log",
        date_format=compile_date_format("YYYY-MM-DD HH:mm:ss"),
    )
    spec = python_app(
        tmp_path, "ts", "print('hello')", logs=logs, restart=RestartPolicy(autorestart=False)
    )
    before = time.time()
    async with Supervisor() as sup:
        await sup.add(spec)
        await sup.wait_until(lambda infos: infos[0].status == "stopped", timeout=10)
    (line,) = logs.out_file.read_bytes().splitlines()
    stamp, text = line.decode().split(" ", 2)[:2], line.decode().split(" ", 2)[2]
    assert text == "hello"
    parsed = time.mktime(time.strptime(" ".join(stamp), "%Y-%m-%d %H:%M:%S"))
    assert before - 1 <= parsed <= time.time() + 1


COUNTER = """
    import sys, time
    out, err = sys.stdout, sys.stderr
    out.write("ready\\n")
    out.flush()
    i = 0
    while True:
        out.write(f"line {i:07d} " + "x" * (i % 37) + "\\n")
        if i % 100 == 0:
            err.write(f"err {i:07d}\\n")
            err.flush()
        i += 1
        if i % 8 == 0:
            out.flush()
            time.sleep(0.002)
"""
"""Writes numbered lines for as long as it runs, in batches of 8, after a ``ready`` line."""


def counted(i: int) -> bytes:
    """Line ``i`` exactly as COUNTER prints it (without its newline)."""
    return b"line %07d " % i + b"x" * (i % 37)


def number(line: bytes) -> int:
    return int(line.split()[1])


def last_printed(out: Output, app: str) -> int:
    """The number of the last line the child has printed so far (-1 before the first)."""
    lines = out.of(app)
    return number(lines[-1]) if lines and lines[-1].startswith(b"line ") else -1


def last_logged(path: Path) -> int:
    """The number of the last complete counted line in ``path`` (-1 if none, or no file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return -1
    lines = data.split(b"\n")[:-1]  # what follows the last newline is not a whole line yet
    return number(lines[-1]) if lines and lines[-1].startswith(b"line ") else -1


def read_lines(path: Path) -> list[bytes]:
    """Every line of ``path``; the file must end with a newline (no line left unterminated)."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def assert_still_the_same_run(sup: Supervisor, app: str, pid: int) -> None:
    (info,) = sup.info(app)
    assert (info.pid, info.status, info.restarts) == (pid, "online", 0)
    assert alive(pid)


@dataclasses.dataclass(frozen=True)
class Counting:
    """A running :data:`COUNTER` app under a real Supervisor, 200 lines already logged."""

    sup: Supervisor
    out: Output
    notices: list[str]
    logs: LogSpec
    pid: int


@contextlib.asynccontextmanager
async def counting(tmp_path: Path) -> AsyncIterator[Counting]:
    out = Output()
    notices: list[str] = []
    folder = tmp_path / "logs"
    logs = LogSpec(out_file=folder / "counter-out.log", error_file=folder / "counter-error.log")
    spec = python_app(tmp_path, "counter", COUNTER, logs=logs)
    pids: list[int] = []
    try:
        async with Supervisor(on_output=out, on_notice=notices.append) as sup:
            await sup.add(spec)
            await out.wait_for(lambda: out.of("counter")[:1] == [b"ready"])
            pid = sup.info("counter")[0].pid
            assert pid is not None
            pids.append(pid)
            await eventually(lambda: last_logged(logs.out_file) >= 200)
            yield Counting(sup=sup, out=out, notices=notices, logs=logs, pid=pid)
    finally:
        kill_if_alive(pids)


class FullDisk:
    """The ``os`` module as the log writer sees it, with a disk that can fill up.

    Installed in place of ``supervisor_core.logs._writer.os`` only, so nothing else in the
    test process is touched. While full, ``write`` raises ENOSPC for descriptors of the one
    file being filled (the same device and inode; the writer closes and reopens the path
    while failing, which keeps the inode), and behaves normally for every other descriptor.
    The first write after filling goes half-way and then fails, as a real disk does when its
    last free blocks are taken in the middle of a write.
    """

    def __init__(self) -> None:
        self.refused = 0
        self._target: tuple[int, int] | None = None
        self._partial = False

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def fill(self, path: Path) -> None:
        st = os.stat(path)
        self._target = (st.st_dev, st.st_ino)
        self._partial = True

    def free(self) -> None:
        self._target = None

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self._target is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == self._target:
                if self._partial and len(data) > 1:
                    self._partial = False
                    return os.write(fd, bytes(data)[: len(data) // 2])
                self.refused += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


LOST_NOTICE = re.compile(
    rb"\[ptm\] (\d+) log lines lost between \S+ and \S+: No space left on device"
)


async def test_full_disk_is_reported_the_app_runs_on_and_logging_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real child under the in-process Supervisor logs on through a full disk.

    How the disk fills: by a stand-in for ``os`` inside the log writer (see FullDisk) that
    fails writes to this app's out file with ENOSPC. A real tiny filesystem would be more
    honest but needs mount rights (root or CAP_SYS_ADMIN), which tests must not rely on; a
    user-namespace mount would be invisible to this process, where the writer runs; and
    /dev/full, though it gives a real ENOSPC, is not a regular file, so the writer would
    take its other path (no path check, no rotation, no size). The stand-in keeps the
    writer on the path a full disk takes: a regular file, a short write, then ENOSPC.

    Lines printed during the outage are lost (and counted); every line after it must reach
    the file whole, each on its own line, with none missing.
    """
    disk = FullDisk()
    monkeypatch.setattr("supervisor_core.logs._writer.os", disk)
    async with counting(tmp_path) as run:
        sup, out, notices, logs, pid = run.sup, run.out, run.notices, run.logs, run.pid

        disk.fill(logs.out_file)
        filled_at = last_printed(out, "counter")
        # Refused twice: once at once, once more at the retry half a second later.
        await eventually(lambda: disk.refused >= 2)
        log_notices = [n for n in notices if str(logs.out_file) in n]
        assert len(log_notices) == 1  # one report for the whole episode
        assert "cannot write (No space left on device)" in log_notices[0]
        assert last_printed(out, "counter") > filled_at  # the app printed on meanwhile
        assert_still_the_same_run(sup, "counter", pid)

        disk.free()
        freed_at = last_printed(out, "counter")
        await eventually(lambda: last_logged(logs.out_file) >= freed_at + 200)
        assert_still_the_same_run(sup, "counter", pid)
        # No await from here on: the file and the echoed lines are seen at one moment.
        printed = out.of("counter")
        lines = read_lines(logs.out_file)
        writer = sup.log_files.writer(logs.out_file) if sup.log_files else None
        assert writer is not None
        dropped = writer.dropped_lines

        assert printed == [b"ready", *map(counted, range(len(printed) - 1))]
        (at,) = [i for i, line in enumerate(lines) if line.startswith(b"[ptm]")]
        match = LOST_NOTICE.fullmatch(lines[at])
        assert match is not None, lines[at]
        lost = int(match.group(1))
        before, after = lines[:at], lines[at + 1 :]
        assert before[0] == b"ready"
        first_lost = next(
            (n for n, line in enumerate(before[1:]) if line != counted(n)), len(before) - 1
        )
        assert before[1 : first_lost + 1] == list(map(counted, range(first_lost)))
        # What the short write put down of the first lost line was ended by the notice.
        cut = before[first_lost + 1 :]
        assert cut == [] or (len(cut) == 1 and cut[0] and counted(first_lost).startswith(cut[0]))
        assert first_lost > filled_at  # all lines printed before the disk filled are in
        first_back = first_lost + lost
        assert first_back > filled_at
        assert after == list(map(counted, range(first_back, number(printed[-1]) + 1)))
        assert number(after[-1]) >= freed_at + 200
        assert dropped == lost


async def test_deleted_log_folder_comes_back_and_the_app_runs_on(tmp_path: Path) -> None:
    """``rm -rf`` of the log folder under a running child: no restart, the folder and files
    come back within the writer's check interval, it is reported, and later lines arrive
    whole. Lines written just before the writer noticed went to the deleted file."""
    async with counting(tmp_path) as run:
        sup, out, notices, logs, pid = run.sup, run.out, run.notices, run.logs, run.pid
        await eventually(lambda: logs.error_file.exists())

        deleted_at = last_printed(out, "counter")
        folder = logs.out_file.parent
        shutil.rmtree(folder)
        assert not folder.exists()
        await eventually(lambda: last_logged(logs.out_file) >= deleted_at + 200)
        await eventually(lambda: logs.error_file.exists())
        assert_still_the_same_run(sup, "counter", pid)
        # No await from here on: the file and the echoed lines are seen at one moment.
        printed = out.of("counter")
        lines = read_lines(logs.out_file)
        errs = out.of("counter", "err")
        err_lines = read_lines(logs.error_file)

        assert printed == [b"ready", *map(counted, range(len(printed) - 1))]
        first = number(lines[0])
        assert first > deleted_at  # everything up to the deletion went to the old file
        assert lines == list(map(counted, range(first, number(printed[-1]) + 1)))
        assert err_lines == errs[len(errs) - len(err_lines) :]
        for path in (logs.out_file, logs.error_file):
            said = [n for n in notices if f"log {path}: the file was deleted" in n]
            assert len(said) == 1, notices
