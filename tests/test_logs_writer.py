"""RotatingWriter on real files: rotation without loss, retention, failures and recovery."""

from __future__ import annotations

import errno
import gzip
import os
import random
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_core.errors import LogError
from supervisor_core.logs import RotatingWriter, rotated_files


class Errors(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def _read(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _everything(path: Path) -> list[bytes]:
    """The contents of every rotated file, oldest first, then the current file."""
    return [_read(p) for p in rotated_files(path)] + [path.read_bytes()]


def _write_lines(writer: RotatingWriter, count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    written = []
    i = 0
    while i < count:
        n = min(rng.randint(1, 60), count - i)
        batch = b"".join(b"line %07d %s\n" % (j, b"x" * (j % 23)) for j in range(i, i + n))
        writer.write(batch)
        written.append(batch)
        i += n
    return b"".join(written)


@pytest.mark.parametrize("compress", [False, True])
def test_200000_lines_through_many_rotations_none_lost_duplicated_or_split(
    tmp_path: Path, compress: bool
) -> None:
    path = tmp_path / "logs" / "app-out.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=100_000, max_files=10_000, compress=compress, on_error=errors
    )
    expected = _write_lines(writer, 200_000, seed=1)
    writer.close(wait=True)
    files = _everything(path)
    assert len(files) > 50
    assert b"".join(files) == expected
    for content in files:
        assert len(content) <= 100_000
        assert content.endswith(b"\n")  # no line cut across two files
    assert errors == []
    names = [p.name for p in rotated_files(path)]
    assert all(name.endswith(".log.gz" if compress else ".log") for name in names)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_rotated_names_carry_the_utc_time_and_a_counter(tmp_path: Path) -> None:
    path = tmp_path / "point-tron-out.log"
    writer = RotatingWriter(
        path, max_size=10, max_files=5, compress=False, wall_clock=lambda: 1_800_000_000.0
    )
    for _ in range(3):
        writer.write(b"0123456789\n")
    writer.close()
    assert [p.name for p in rotated_files(path)] == [
        "point-tron-out__20270115T080000Z-0001.log",
        "point-tron-out__20270115T080000Z-0002.log",
    ]


def test_a_batch_larger_than_max_size_goes_alone_into_a_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    writer = RotatingWriter(path, max_size=50, max_files=10, compress=False)
    writer.write(b"small\n")
    big = b"".join(b"big line %d\n" % i for i in range(20))
    writer.write(big)
    writer.write(b"after\n")
    writer.close()
    assert _everything(path) == [b"small\n", big, b"after\n"]


def test_retention_keeps_the_newest_max_files(tmp_path: Path) -> None:
    path = tmp_path / "keep.log"
    writer = RotatingWriter(path, max_size=20, max_files=3, compress=False)
    batches = [b"batch %03d.........\n" % i for i in range(30)]
    for batch in batches:
        writer.write(batch)
    writer.close()
    assert len(rotated_files(path)) == 3
    assert _everything(path) == batches[-4:]


def test_retention_counts_gz_files(tmp_path: Path) -> None:
    path = tmp_path / "keep.log"
    writer = RotatingWriter(path, max_size=20, max_files=2, compress=True)
    batches = [b"batch %03d.........\n" % i for i in range(25)]
    for batch in batches:
        writer.write(batch)
    writer.close(wait=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3
    assert sum(name.endswith(".gz") for name in names) == 2
    assert _everything(path) == batches[-3:]


def test_max_files_zero_keeps_no_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "none.log"
    writer = RotatingWriter(path, max_size=20, max_files=0, compress=False)
    for i in range(5):
        writer.write(b"batch %03d.........\n" % i)
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["none.log"]


def test_two_rotations_in_one_second_keep_both(tmp_path: Path) -> None:
    path = tmp_path / "fast.log"
    writer = RotatingWriter(
        path, max_size=10, max_files=10, compress=True, wall_clock=lambda: 1_800_000_000.5
    )
    for i in range(3):
        writer.write(b"batch %d...\n" % i)
    writer.close(wait=True)
    rotated = rotated_files(path)
    assert len(rotated) == 2
    assert len({p.name.split("-")[0] for p in rotated}) == 1  # same second
    assert [_read(p) for p in rotated] == [b"batch 0...\n", b"batch 1...\n"]


def test_rotation_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    clock = lambda: 1_800_000_000.0  # noqa: E731
    earlier = tmp_path / "app__20270115T080000Z-0001.log"
    earlier.write_bytes(b"from an earlier run\n")
    (tmp_path / "app__20270115T080000Z-0002.log.gz").write_bytes(b"not ours to touch")
    writer = RotatingWriter(path, max_size=10, max_files=10, compress=False, wall_clock=clock)
    writer.write(b"0123456789\n")
    writer.write(b"second\n")
    writer.close()
    assert earlier.read_bytes() == b"from an earlier run\n"
    assert (tmp_path / "app__20270115T080000Z-0003.log").read_bytes() == b"0123456789\n"


def test_existing_file_is_appended_to_and_its_size_counts(tmp_path: Path) -> None:
    path = tmp_path / "old.log"
    path.write_bytes(b"x" * 15 + b"\n")
    writer = RotatingWriter(path, max_size=20, max_files=3, compress=False)
    assert writer.size == 16
    writer.write(b"new line\n")
    writer.close()
    assert _everything(path) == [b"x" * 15 + b"\n", b"new line\n"]


def test_files_are_created_0640_with_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.log"
    old = os.umask(0o022)
    try:
        writer = RotatingWriter(path, max_size=0, max_files=1, compress=False)
    finally:
        os.umask(old)
    writer.write(b"hi\n")
    writer.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_bytes() == b"hi\n"


def test_max_size_zero_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "forever.log"
    writer = RotatingWriter(path, max_size=0, max_files=1, compress=False)
    for _ in range(100):
        writer.write(b"0123456789\n")
    writer.close()
    assert rotated_files(path) == []
    assert len(path.read_bytes()) == 1100


def test_truncate_empties_the_file_and_writing_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "flush.log"
    writer = RotatingWriter(path, max_size=1000, max_files=3, compress=False)
    writer.write(b"before\n" * 10)
    writer.truncate()
    assert path.read_bytes() == b""
    assert writer.size == 0
    writer.write(b"after\n")
    writer.close()
    assert path.read_bytes() == b"after\n"


def test_reopen_after_external_mv(tmp_path: Path) -> None:
    path = tmp_path / "rot.log"
    writer = RotatingWriter(path, max_size=0, max_files=3, compress=False, check_interval=3600)
    writer.write(b"one\n")
    moved = tmp_path / "rot.log.1"
    path.rename(moved)
    writer.write(b"two\n")  # still the open file, now named rot.log.1: not lost
    writer.reopen()
    writer.write(b"three\n")
    writer.close()
    assert moved.read_bytes() == b"one\ntwo\n"
    assert path.read_bytes() == b"three\n"


def test_external_mv_is_noticed_without_reopen(tmp_path: Path) -> None:
    """logrotate's ``nocreate``: the file moved away, nothing at the path; the writer opens a
    new file there by itself, and says nothing (the file was not deleted)."""
    path = tmp_path / "rot.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0.05
    )
    writer.write(b"first\n")
    moved = tmp_path / "rot.log.1"
    path.rename(moved)
    lines: list[bytes] = []
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, "the writer never noticed the move"
        line = b"line %d\n" % len(lines)
        lines.append(line)
        writer.write(line)
        time.sleep(0.01)
    writer.write(b"after\n")
    writer.close()
    assert moved.read_bytes() + path.read_bytes() == b"first\n" + b"".join(lines) + b"after\n"
    assert errors == []


def test_logrotate_create_style_new_file_is_noticed(tmp_path: Path) -> None:
    """logrotate's ``create``: move the file, put a new empty one at the path."""
    path = tmp_path / "rot.log"
    writer = RotatingWriter(path, max_size=0, max_files=3, compress=False, check_interval=0)
    writer.write(b"first\n")
    moved = tmp_path / "rot.log.1"
    path.rename(moved)
    path.touch()
    writer.write(b"second\n")
    writer.close()
    assert moved.read_bytes() == b"first\n"
    assert path.read_bytes() == b"second\n"


def test_deleted_folder_is_recreated_and_logging_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    path = folder / "app.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0.05
    )
    writer.write(b"before\n")
    shutil.rmtree(folder)
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, "the folder was never recreated"
        writer.write(b"in the window\n")
        time.sleep(0.01)
    after = [b"after %d\n" % i for i in range(100)]
    for line in after:
        writer.write(line)
    writer.close()
    assert path.read_bytes().endswith(b"".join(after))
    assert errors == [
        f"log {path}: the file was deleted; created it again (lines written since"
        " the last check went to the deleted file)"
    ]


def test_deleted_file_noticed_at_once_with_zero_interval(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    writer = RotatingWriter(path, max_size=0, max_files=3, compress=False, check_interval=0)
    writer.write(b"before\n")
    path.unlink()
    writer.write(b"after\n")
    writer.close()
    assert path.read_bytes() == b"after\n"


class FullDisk:
    """Stands in for os.write in the writer module: fails with ENOSPC while ``full``."""

    def __init__(self) -> None:
        self.full = False
        self.partial_once = 0
        self.real = os.write

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        if self.partial_once:
            n, self.partial_once = self.partial_once, 0
            self.full = True
            return self.real(fd, bytes(data)[:n])
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real(fd, data)


def test_full_disk_is_reported_once_counted_and_noted_on_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    monkeypatch.setattr("supervisor_core.logs._writer.os.write", disk)
    path = tmp_path / "full.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    writer.write(b"ok 1\nok 2\n")
    disk.full = True
    for i in range(5):
        writer.write(b"lost %d\nlost %d\nlost %d\n" % (i, i, i))
    assert writer.dropped_lines == 15
    assert len(errors) == 1
    assert str(path) in errors[0]
    assert "No space left on device" in errors[0]
    disk.full = False
    writer.write(b"back\n")
    writer.close()
    lines = path.read_bytes().splitlines()
    assert lines[:2] == [b"ok 1", b"ok 2"]
    assert lines[2].startswith(b"[ptm] 15 log lines lost between ")
    assert lines[2].endswith(b"No space left on device")
    assert lines[3:] == [b"back"]
    assert writer.dropped_lines == 15


def test_full_disk_in_the_middle_of_a_batch_ends_the_cut_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    monkeypatch.setattr("supervisor_core.logs._writer.os.write", disk)
    path = tmp_path / "full.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    disk.partial_once = 7
    writer.write(b"aaaa\nbbbb\ncccc\n")  # "aaaa\nbb" reaches the disk, then ENOSPC
    assert writer.dropped_lines == 2
    disk.full = False
    writer.write(b"dddd\n")
    writer.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[:2] == [b"aaaa", b"bb"]
    assert lines[2].startswith(b"[ptm] 2 log lines lost")
    assert lines[3:] == [b"dddd", b""]
    assert len(errors) == 1


def test_failed_writes_are_retried_only_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    calls = []

    def counting(fd: int, data: bytes | memoryview) -> int:
        calls.append(fd)
        return disk(fd, data)

    monkeypatch.setattr("supervisor_core.logs._writer.os.write", counting)
    writer = RotatingWriter(
        tmp_path / "x.log", max_size=0, max_files=3, compress=False, check_interval=3600
    )
    disk.full = True
    for _ in range(100):
        writer.write(b"x\n")
    writer.close()
    assert len(calls) == 1
    assert writer.dropped_lines == 100


def test_permission_denied_on_open_is_reported_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "denied.log"
    real_open = os.open
    denied = True

    def fake_open(file: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if denied and Path(file) == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, flags, mode)

    monkeypatch.setattr("supervisor_core.logs._writer.os.open", fake_open)
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    writer.write(b"dropped 1\n")
    writer.write(b"dropped 2\n")
    assert len(errors) == 1
    assert "Permission denied" in errors[0]
    assert writer.dropped_lines == 2
    denied = False
    writer.write(b"written\n")
    writer.close()
    lines = path.read_bytes().splitlines()
    assert lines[0].startswith(b"[ptm] 2 log lines lost")
    assert lines[1:] == [b"written"]


def test_gzip_failure_keeps_the_plain_file_and_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_gzip(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "simulated gzip failure")

    monkeypatch.setattr("supervisor_core.logs._rotated.gzip.GzipFile", broken_gzip)
    path = tmp_path / "z.log"
    errors = Errors()
    writer = RotatingWriter(path, max_size=10, max_files=5, compress=True, on_error=errors)
    writer.write(b"0123456789\n")
    writer.write(b"second\n")
    writer.close(wait=True)
    assert [_read(p) for p in rotated_files(path)] == [b"0123456789\n"]
    assert len(errors) == 1
    assert "cannot gzip" in errors[0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".gz", ".tmp"))]


def test_a_fifo_is_written_but_never_rotated(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        errors = Errors()
        writer = RotatingWriter(fifo, max_size=5, max_files=1, compress=False, on_error=errors)
        writer.write(b"0123456789\n")
        writer.write(b"again\n")
        writer.truncate()
        writer.close()
        assert os.read(reader, 100) == b"0123456789\nagain\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]
    assert errors == []


def test_a_fifo_without_reader_does_not_hang_and_is_retried(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    errors = Errors()
    writer = RotatingWriter(
        fifo, max_size=0, max_files=1, compress=False, on_error=errors, check_interval=0
    )
    assert len(errors) == 1
    assert "No such device or address" in errors[0]
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        writer.write(b"hello\n")
        writer.close()
        assert os.read(reader, 100) == b"hello\n"
    finally:
        os.close(reader)


def test_write_after_close_is_dropped_not_raised(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path / "c.log", max_size=0, max_files=1, compress=False)
    writer.close()
    writer.write(b"late\n")
    writer.close()
    assert writer.dropped_lines == 1
    assert (tmp_path / "c.log").read_bytes() == b""


def test_truncate_failure_raises_log_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("supervisor_core.logs._writer.os.ftruncate", no_truncate)
    path = tmp_path / "t.log"
    writer = RotatingWriter(path, max_size=0, max_files=1, compress=False)
    with pytest.raises(LogError, match=r"t\.log: cannot truncate: Input/output error"):
        writer.truncate()
    writer.close()


def test_rotated_files_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert rotated_files(tmp_path / "nowhere" / "x.log") == []


# --- symbolic links (a root daemon must not write, create or truncate through one) -----------

SECRET = b"root only: must never change\n"


def _attacker_folder(tmp_path: Path, how: str) -> Path:
    """A log folder another user can write: owned by nobody (65534), or mode 0777."""
    folder = tmp_path / "logs"
    folder.mkdir()
    if how == "owned-by-another-user":
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(folder, 65534, 65534)
    else:
        folder.chmod(0o777)
    return folder


def _root_only_file(tmp_path: Path) -> Path:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return secret


FOLDERS = ["owned-by-another-user", "world-writable"]


@pytest.mark.parametrize("how", FOLDERS)
def test_a_link_swapped_in_for_the_log_is_refused_reported_and_its_target_untouched(
    tmp_path: Path, how: str
) -> None:
    folder = _attacker_folder(tmp_path, how)
    secret = _root_only_file(tmp_path)
    path = folder / "app-out.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    writer.write(b"before\n")
    path.unlink()
    path.symlink_to(secret)  # what the user who can write the folder does
    writer.write(b"app output 1\n")
    writer.write(b"app output 2\n")
    with pytest.raises(LogError, match="symbolic link"):
        writer.truncate()  # ptm flush
    writer.reopen()  # ptm reloadLogs
    writer.write(b"app output 3\n")
    writer.close()
    assert secret.read_bytes() == SECRET
    assert path.is_symlink()
    assert len(errors) == 1, errors
    assert f"log {path}: cannot write" in errors[0]
    assert "symbolic link" in errors[0]
    assert writer.dropped_lines == 3


@pytest.mark.parametrize("how", FOLDERS)
def test_a_link_present_at_start_is_refused_and_flush_never_truncates_through_it(
    tmp_path: Path, how: str
) -> None:
    folder = _attacker_folder(tmp_path, how)
    secret = _root_only_file(tmp_path)
    path = folder / "app-out.log"
    path.symlink_to(secret)
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    writer.write(b"app output\n")
    with pytest.raises(LogError, match="symbolic link"):
        writer.truncate()
    writer.close()
    assert secret.read_bytes() == SECRET
    assert len(errors) == 1 and "symbolic link" in errors[0], errors


@pytest.mark.parametrize("how", FOLDERS)
def test_a_dangling_link_creates_nothing(tmp_path: Path, how: str) -> None:
    folder = _attacker_folder(tmp_path, how)
    target = tmp_path / "created-by-ptm"
    path = folder / "app-out.log"
    path.symlink_to(target)
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    writer.write(b"app output\n")
    with pytest.raises(LogError, match="symbolic link"):
        writer.truncate()
    writer.close()
    assert not os.path.lexists(target)
    assert len(errors) == 1 and "symbolic link" in errors[0], errors


@pytest.mark.parametrize("how", FOLDERS)
def test_a_link_swapped_in_for_a_rotated_file_is_not_gzipped(tmp_path: Path, how: str) -> None:
    folder = _attacker_folder(tmp_path, how)
    secret = _root_only_file(tmp_path)
    path = folder / "app-out.log"
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=10, max_files=5, compress=True, on_error=errors, check_interval=3600
    )
    # Hold the gzip thread until the link is in place, as a racing user would arrange.
    gate = threading.Event()
    real_job = writer._compress_job

    def held_job(target: Path, report: Callable[[str], None]) -> None:
        gate.wait(10)
        real_job(target, report)

    writer._compress_job = held_job  # type: ignore[method-assign]
    writer.write(b"0123456789\n")
    writer.write(b"next\n")  # rotates: the first file is renamed, then gzipped
    (rotated,) = [p for p in folder.iterdir() if p.name != path.name]
    rotated.unlink()
    rotated.symlink_to(secret)
    gate.set()
    writer.close(wait=True)
    assert secret.read_bytes() == SECRET
    for gz in folder.glob("*.gz"):
        assert SECRET not in _read(gz)
    assert any("symbolic link" in e for e in errors), errors


@pytest.mark.parametrize("rotation", ["size", "daily"])
def test_a_followed_link_is_written_through_and_never_rotated(
    tmp_path: Path, rotation: str
) -> None:
    """``out_file = "/dev/stdout"`` under a ``ptm run`` whose stdout is a file (a systemd unit
    with ``StandardOutput=append:...``, ``ptm run > app.log``): the link leads to a regular
    file, so ptm rotated it by renaming the path, which moved the link itself (for
    ``/dev/stdout``, out of ``/dev``, for every program) and made a plain file in its place,
    where the lines went from then on. A link is the owner's choice of where the lines go:
    it is written through and never rotated (the file it leads to is someone else's)."""
    folder = tmp_path / "dev"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    target = tmp_path / "unit.log"
    target.write_bytes(b"")
    path = folder / "stdout"
    path.symlink_to(target)
    days = iter([0.0, 0.0, 86400.0 * 2, 86400.0 * 3, 86400.0 * 4, 86400.0 * 5])
    errors = Errors()
    writer = RotatingWriter(
        path,
        max_size=100 if rotation == "size" else 0,
        max_files=3,
        compress=False,
        on_error=errors,
        check_interval=0,
        rotate_interval="daily" if rotation == "daily" else None,
        wall_clock=lambda: next(days, 86400.0 * 6),
    )
    lines = [f"line {i} ".encode() + b"x" * 60 + b"\n" for i in range(5)]
    for line in lines:
        writer.write(line)  # each batch past max_size, or on a new day
    writer.close()
    assert path.is_symlink() and path.readlink() == target
    assert sorted(p.name for p in folder.iterdir()) == ["stdout"]
    assert target.read_bytes() == b"".join(lines)
    assert errors == []


def test_a_link_in_a_folder_only_we_can_write_is_followed(tmp_path: Path) -> None:
    # Like /dev/stdout (a link in root's /dev): nobody else can swap it, so it is the
    # owner's choice and ptm writes where it points.
    folder = tmp_path / "private"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    target = tmp_path / "real.log"
    path = folder / "app-out.log"
    path.symlink_to(target)
    errors = Errors()
    writer = RotatingWriter(
        path, max_size=0, max_files=3, compress=False, on_error=errors, check_interval=0
    )
    writer.write(b"one\n")
    writer.write(b"two\n")
    writer.close()
    assert target.read_bytes() == b"one\ntwo\n"
    assert errors == []
