"""What happens to a log's rotated files: their names, retention and compression.

A rotated file is ``<stem>__<UTC stamp>-<counter><suffix>``. The stamp is the rotation's time
(size rotation alone) or the start of the period the file covers (``log_rotate_interval``);
the counter is one more than the highest counter that stamp already has, so the files of one
stamp sort in the order they were written, and a name is never reused while a file (or its
``.gz``) has it. :func:`prune` keeps the newest ``max_files``; :func:`compress_old` gzips every
plain rotated file but the newest ``delay`` ones (``log_compress_delay``).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import shutil
import stat
import time
from collections.abc import Callable, Container
from pathlib import Path
from typing import BinaryIO

from supervisor_core.logs._files import rotated_pattern, scan, stem_suffix

__all__ = ["compress_old", "gzip_rotated", "prune", "reason", "rotation_target", "stamp_of"]

Report = Callable[[str], None]


def stamp_of(timestamp: float) -> str:
    """The UTC stamp of a rotated file's name for the instant ``timestamp``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(timestamp))


def rotation_target(path: Path, stamp: str, last_counter: int) -> tuple[Path, int]:
    """A free name for the next rotated file of ``path`` with ``stamp``, and its counter.

    ``last_counter`` is the counter this writer last gave ``stamp`` (0 for none).
    """
    stem, suffix = stem_suffix(path)
    counter = max(last_counter, _highest_counter(path, stamp)) + 1
    while True:
        target = path.with_name(f"{stem}__{stamp}-{counter:04d}{suffix}")
        name = str(target)
        if not (
            os.path.lexists(name)
            or os.path.lexists(name + ".gz")
            or os.path.lexists(name + ".gz.tmp")
        ):
            return target, counter
        counter += 1


def _highest_counter(path: Path, stamp: str) -> int:
    pattern = rotated_pattern(path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    highest = 0
    for name in names:
        match = pattern.fullmatch(name)
        if match is not None and match.group(1) == stamp:
            highest = max(highest, int(match.group(2)))
    return highest


def prune(path: Path, max_files: int, report: Report) -> None:
    """Delete the oldest rotated files beyond ``max_files``, and stale ``.tmp`` files."""
    groups, temps = scan(path)
    doomed = [p for group in groups[: max(len(groups) - max_files, 0)] for p in group]
    for victim in doomed + temps:
        try:
            victim.unlink(missing_ok=True)
        except OSError as exc:
            report(f"log {victim}: cannot delete old rotated file: {reason(exc)}")


def compress_old(
    path: Path, delay: int, mode: int, report: Report, skip: Container[str] = ()
) -> list[str]:
    """Gzip every plain rotated file of ``path`` except the newest ``delay`` ones.

    Files named in ``skip`` (those that failed before) are left alone. Returns the names that
    failed this time (each is reported).
    """
    groups = scan(path)[0]
    failed: list[str] = []
    for group in groups[: max(len(groups) - delay, 0)]:
        if any(p.name.endswith(".gz") for p in group):
            continue
        target = group[0]
        if target.name in skip:
            continue
        message = gzip_rotated(target, mode)
        if message is not None:
            failed.append(target.name)
            report(f"log {target}: {message}")
    return failed


def gzip_rotated(target: Path, mode: int) -> str | None:
    """Gzip ``target`` into ``target.gz`` (``.gz.tmp`` first), then delete it.

    Returns None, or why it was left uncompressed.
    """
    if not target.exists():
        return None  # pruned, or compressed by another writer: nothing to do
    gz = target.with_name(target.name + ".gz")
    tmp = target.with_name(target.name + ".gz.tmp")
    try:
        # Neither file through a link: the folder may be writable by another user, who
        # could swap one in to have a root daemon copy (or overwrite) a file of theirs.
        src_fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        with open(src_fd, "rb") as src:
            st = os.fstat(src_fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "it is no longer a regular file", str(target))
            tmp.unlink(missing_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(tmp, flags, mode)
            try:
                if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                    os.fchown(out, st.st_uid, st.st_gid)  # the app's user keeps its file
                os.fchmod(out, mode)
            except OSError:
                os.close(out)
                raise
            _gzip(src, out, target.name)
        tmp.replace(gz)
        target.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if exc.errno == errno.ELOOP:
            return "it is a symbolic link now; left it alone, not following it"
        return f"cannot gzip ({reason(exc)}); kept it uncompressed"
    return None


def _gzip(src: BinaryIO, fd: int, name: str) -> None:
    with (
        os.fdopen(fd, "wb") as raw,
        gzip.GzipFile(filename=name, mode="wb", fileobj=raw, compresslevel=6) as zf,
    ):
        shutil.copyfileobj(src, zf, 1 << 20)


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
