"""One log file that rotates itself, survives a full disk and notices being deleted.

Writes go through an ``O_APPEND`` descriptor, one ``os.write`` per batch of whole lines, so a
line is never interleaved with another writer's and never split between two files. Rotation
happens here, before the batch that would pass ``max_size``, and (with ``rotate_interval``)
before the first batch of a new local hour or day: the file is renamed to
``<stem>__<UTC stamp>-<counter><suffix>`` (``app-out__20261128T210000Z-0001.log``) and a new
one is opened; nothing is copied or truncated, so no line can fall between two steps. A time
rotation happens at the first write after the boundary (like Python's
``TimedRotatingFileHandler``), not at the boundary itself: a quiet log is not rotated into
empty files, and the file it rotates holds only lines of the period its name gives. Names are
made in :mod:`supervisor_core.logs._rotated`. Rotated files are gzipped in the background
thread of :mod:`supervisor_core.logs._compressor` when asked (``.gz.tmp`` first, then renamed;
the plain file is removed only after that), all but the newest ``compress_delay``; closing
the writer does not wait for them. Only ``max_files`` rotated files are kept, compressed or
not; the oldest go first. A file the writer creates gets exactly ``file_mode`` (not masked by
the umask).

Failures never reach the caller of :meth:`RotatingWriter.write`: they are reported once per
episode through ``on_error``, the lost lines are counted, and the first successful write
afterwards is preceded by one ``[ptm] N log lines lost ...`` line.

Symbolic links: see :mod:`supervisor_core.logs._files`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from supervisor_core._fds import check_reserve
from supervisor_core.config import RotateInterval
from supervisor_core.errors import LogError
from supervisor_core.logs import _compressor
from supervisor_core.logs._files import FILE_MODE, open_no_link, rotated_files
from supervisor_core.logs._period import period_of
from supervisor_core.logs._rotated import (
    compress_old,
    prune,
    rotation_target,
    stamp_of,
)
from supervisor_core.logs._rotated import reason as _reason

__all__ = ["DEFAULT_CHECK_INTERVAL", "FILE_MODE", "RotatingWriter", "rotated_files"]

DEFAULT_CHECK_INTERVAL = 0.5
"""Seconds between checks that the path still names our file, and between retries after errors."""

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
# O_NONBLOCK only so that opening a FIFO nobody reads fails (ENXIO) instead of hanging;
# the descriptor is made blocking again right after. O_NOFOLLOW is added by _open_no_link.
_NL = b"\n"


class RotatingWriter:
    """Appends batches of lines to one file, rotating it by size and (optionally) by time.

    Not thread-safe: one thread (the supervisor's) calls it. ``on_error`` is always called from
    that thread, also for failures of the background compression (reported on the next call);
    those of a compression that ends after :meth:`close` go to the ``supervisor_core.logs``
    logger (the daemon's log) instead.
    ``max_size <= 0`` disables rotation. Rotation and truncation apply to regular files only
    (``/dev/stdout`` and the like are just written to), and rotation only to a path that is
    not a link (a followed link is written through). ``on_open`` is called with each new
    descriptor of the file (at start, after a rotation or a reopen), before it is written to.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_size: int,
        max_files: int,
        compress: bool,
        on_error: Callable[[str], None] | None = None,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        wall_clock: Callable[[], float] = time.time,
        owner: tuple[int, int] | None = None,
        rotate_interval: RotateInterval | None = None,
        compress_delay: int = 0,
        file_mode: int = FILE_MODE,
        on_open: Callable[[int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_size = max_size
        self.max_files = max(max_files, 0)
        self.compress = compress
        self.rotate_interval = rotate_interval
        self.compress_delay = max(compress_delay, 0)
        self.file_mode = file_mode
        self._on_open = on_open
        # The period of the current file's lines (time rotation only).
        self._period = (0.0, float("inf"))
        self.size = 0
        self.dropped_lines = 0
        self.written_bytes = 0
        """Bytes written to this log since it was opened, across rotations."""
        self._on_error = on_error
        self._check_interval = check_interval
        self._wall_clock = wall_clock
        self._owner = owner
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._regular = True
        self._rotatable = True
        self._next_check = 0.0
        self._closed = False
        # The current failure episode: reason, lines lost, since when; a cut line to end.
        self._failing: str | None = None
        self._lost = 0
        self._lost_since = 0.0
        self._cut_line = False
        self._rotate_failing = False
        self._rotate_retry_at = 0.0
        self._last_stamp = ""
        self._last_counter = 0
        self._jobs = _compressor.Jobs(str(self.path))
        self._gzip_failed: set[str] = set()  # rotated files not to try again (worker only)
        try:
            self._open()
        except OSError as exc:
            self._fail(exc, 0)

    # -- public -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines, ending with ``\\n``). Never raises."""
        if not data:
            return
        if self._jobs.errors:
            self._report_worker_errors()
        if self._closed:
            self.dropped_lines += data.count(_NL)
            return
        now = time.monotonic()
        check = now >= self._next_check
        if check:
            self._next_check = now + self._check_interval
        elif self._failing is not None:
            self._drop(data)  # retried once per check interval
            return
        try:
            self._write(data, now, check)
        except Exception as exc:  # never let a log problem reach the supervisor
            self._report(f"log {self.path}: unexpected error while writing: {exc!r}")
            self._drop(data)

    def reopen(self) -> None:
        """Close and open the path again (after an external logrotate moved the file)."""
        if self._closed:
            return
        self._close_fd()
        try:
            self._open()
        except OSError as exc:
            self._fail(exc, 0)

    def truncate(self) -> None:
        """Empty the file (``ptm flush``); later writes start again at offset 0.

        Raises :class:`~supervisor_core.errors.LogError` if the file cannot be truncated.
        """
        if self._closed:
            return
        try:
            self._check_path()
            if self._fd is None:
                self._truncate_path()
            elif self._regular:
                os.ftruncate(self._fd, 0)
            self.size = 0
        except OSError as exc:
            raise LogError(f"log {self.path}: cannot truncate: {_reason(exc)}") from exc

    def _truncate_path(self) -> None:
        """Empty the file at the path without opening it for writing (no fd held)."""
        flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = open_no_link(self.path, flags)
        except FileNotFoundError:
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def close(self, *, wait: bool = False) -> None:
        """Close the file. Background compression goes on unless ``wait``: call it on the
        event loop, it never waits for a gzip unless asked."""
        if not self._closed:
            self._closed = True
            self._close_fd()
        if wait:
            self._jobs.wait()
        self._jobs.orphan()
        self._report_worker_errors()

    @property
    def compressing(self) -> bool:
        """Whether a compression job of this writer is queued or running."""
        return self._jobs.busy

    def wait_compressed(self, timeout: float | None = None) -> bool:
        """Wait for this writer's compression jobs; False if ``timeout`` passed first."""
        return self._jobs.wait(timeout)

    # -- writing ----------------------------------------------------------------------------

    def _write(self, data: bytes, now: float, check: bool) -> None:
        try:
            if check:
                self._check_path()
            fd = self._fd
            if fd is None:
                fd = self._open()
            if self._rotatable and self.rotate_interval is not None:
                wall = self._wall_clock()
                if not self._period[0] <= wall < self._period[1]:  # also a clock set back
                    if self.size > 0:
                        fd = self._rotate(fd, now)
                    else:
                        self._period = period_of(wall, self.rotate_interval)
            if (
                self._rotatable
                and self.max_size > 0
                and self.size > 0
                and self.size + len(data) > self.max_size
            ):
                fd = self._rotate(fd, now)
            if self._failing is not None or self._cut_line:
                self._write_all(fd, self._recovery_notice())
                self._failing = None
                self._lost = 0
                self._cut_line = False
        except OSError as exc:
            self._fail(exc, data.count(_NL))
            return
        written = 0
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, memoryview(data)[written:])
        except OSError as exc:
            self.size += written
            self.written_bytes += written
            if written:
                self._cut_line = not data[:written].endswith(_NL)
            self._fail(exc, data.count(_NL, written))
            return
        self.size += written
        self.written_bytes += written

    def _write_all(self, fd: int, data: bytes) -> None:
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, memoryview(data)[written:])
        finally:
            self.size += written
            self.written_bytes += written
            if written:
                self._cut_line = not data[:written].endswith(_NL)

    def _recovery_notice(self) -> bytes:
        head = _NL if self._cut_line else b""
        if self._failing is None or self._lost == 0:
            return head
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._lost_since))
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._wall_clock()))
        text = f"[ptm] {self._lost} log lines lost between {since} and {until}: {self._failing}\n"
        return head + text.encode()

    def _drop(self, data: bytes) -> None:
        lines = data.count(_NL)
        self.dropped_lines += lines
        self._lost += lines

    def _fail(self, exc: OSError, lost_lines: int) -> None:
        self.dropped_lines += lost_lines
        if self._failing is None:
            self._failing = _reason(exc)
            self._lost = 0
            self._lost_since = self._wall_clock()
            self._report(
                f"log {self.path}: cannot write ({self._failing}); "
                "dropping lines until it works again"
            )
        self._lost += lost_lines
        self._next_check = time.monotonic() + self._check_interval
        self._close_fd()

    # -- the file ---------------------------------------------------------------------------

    def _open(self) -> int:
        check_reserve(str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, created = self._open_or_create()
        try:
            os.set_blocking(fd, True)
            st = os.fstat(fd)
            regular = stat.S_ISREG(st.st_mode)
            owner = self._owner
            if owner is not None and regular and (st.st_uid, st.st_gid) != owner:
                os.fchown(fd, *owner)  # the file belongs to the user the app runs as
            if created and regular and stat.S_IMODE(st.st_mode) != self.file_mode:
                os.fchmod(fd, self.file_mode)  # exactly log_file_mode, whatever the umask
            if self._on_open is not None:
                self._on_open(fd)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self._regular = regular
        # A link (followed only where it is its owner's choice, like /dev/stdout) is written
        # through, never rotated: a rename would move the link, not the file it leads to.
        self._rotatable = regular and not os.path.islink(self.path)
        self.size = st.st_size if regular else 0
        if self.rotate_interval is not None:
            wall = self._wall_clock()
            # The lines already in the file were written by its last modification.
            since = min(st.st_mtime, wall) if self.size > 0 else wall
            self._period = period_of(since, self.rotate_interval)
        return fd

    def _open_or_create(self) -> tuple[int, bool]:
        """The descriptor of the file, and whether this call created it."""
        try:
            return open_no_link(self.path, _OPEN_FLAGS & ~os.O_CREAT, self.file_mode), False
        except FileNotFoundError:
            pass
        try:
            return open_no_link(self.path, _OPEN_FLAGS | os.O_EXCL, self.file_mode), True
        except FileExistsError:  # created meanwhile, or a dangling link: open as before
            return open_no_link(self.path, _OPEN_FLAGS, self.file_mode), False

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _check_path(self) -> None:
        """Reopen if the path no longer names our file (deleted, or moved by logrotate)."""
        if self._fd is None or not self._regular:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            deleted = True  # else moved away (logrotate's nocreate): a fresh file, no message
            with contextlib.suppress(OSError):
                deleted = os.fstat(self._fd).st_nlink == 0
            self._close_fd()
            self._open()
            if deleted:
                self._report(
                    f"log {self.path}: the file was deleted; created it again (lines written"
                    " since the last check went to the deleted file)"
                )
            return
        except OSError:
            return  # cannot look; keep writing to what we have
        if (st.st_dev, st.st_ino) != self._ident:
            self._close_fd()
            self._open()
        else:
            self.size = st.st_size

    # -- rotation ---------------------------------------------------------------------------

    def _rotate(self, fd: int, now: float) -> int:
        """Rename the full file away and open a fresh one; returns the descriptor to write to."""
        if self._rotate_failing and now < self._rotate_retry_at:
            return fd
        try:
            target = self._rotation_target()
            self.path.rename(target)
        except FileNotFoundError:
            target = None  # deleted under us: a fresh file is all we need
        except OSError as exc:
            self._rotate_retry_at = now + self._check_interval
            if not self._rotate_failing:
                self._rotate_failing = True
                self._report(
                    f"log {self.path}: cannot rotate ({_reason(exc)}); "
                    "writing on in the current file"
                )
            return fd
        self._rotate_failing = False
        self._close_fd()
        fd = self._open()
        if target is not None:
            if self.compress:
                self._jobs.submit(functools.partial(self._compress_job, target))
            else:
                self._prune(self._report)
        return fd

    def _rotation_target(self) -> Path:
        """The name for the current file: by its period with time rotation, else by now."""
        if self.rotate_interval is not None:
            stamp = stamp_of(self._period[0])
        else:
            stamp = stamp_of(self._wall_clock())
        last = self._last_counter if stamp == self._last_stamp else 0
        target, counter = rotation_target(self.path, stamp, last)
        self._last_stamp, self._last_counter = stamp, counter
        return target

    def _prune(self, report: Callable[[str], None]) -> None:
        """Delete the oldest rotated files beyond ``max_files``, and stale ``.tmp`` files.

        Runs in the compression thread when compressing (so it never races a gzip), else here.
        """
        prune(self.path, self.max_files, report)

    def _compress_job(self, target: Path, report: Callable[[str], None]) -> None:
        """In the background thread, after ``target`` was rotated: prune, then gzip what is
        older than the newest ``compress_delay`` rotated files (``target`` itself when 0)."""
        self._prune(report)
        failed = compress_old(
            self.path,
            self.compress_delay,
            self.file_mode,
            report,
            skip=self._gzip_failed,
        )
        self._gzip_failed.update(failed)

    # -- reporting --------------------------------------------------------------------------

    def _report(self, message: str) -> None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(message)

    def _report_worker_errors(self) -> None:
        errors = self._jobs.errors
        while errors:
            self._report(errors.popleft())
