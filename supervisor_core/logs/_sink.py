"""Where each instance's lines go: timestamped, into files shared by path.

:class:`LogFiles` owns every :class:`RotatingWriter` of one supervisor, one per resolved path,
so instances (and stdout/stderr, when ``out_file == error_file``) that write the same file
share one descriptor and one rotation. Writers are reference-counted: closing an instance's
sink closes a file only when no other sink still uses it.

A merged file (``merge_logs``) of an app with several instances is shared by all of them, so
each line there starts with its instance's marker, ``[N] `` (:func:`instance_marker`), before
the timestamp; :func:`split_marker` reads it back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from supervisor_core.config import DateFormatter, LogSpec
from supervisor_core.errors import LogError
from supervisor_core.logs._writer import DEFAULT_CHECK_INTERVAL, RotatingWriter

__all__ = ["InstanceLogSink", "LogFiles", "instance_log_paths", "instance_marker", "split_marker"]

Stream = Literal["out", "err"]

_MARKER = re.compile(rb"\[(\d{1,4})\] ")


def instance_marker(instance: int) -> bytes:
    """What starts each line an instance writes to a file it shares with other instances."""
    return b"[%d] " % instance


def split_marker(line: bytes) -> tuple[int | None, bytes]:
    """(instance, the line without its marker) of a line of a shared file; (None, line) for a
    line without a marker."""
    found = _MARKER.match(line)
    if found is None:
        return None, line
    return int(found[1]), line[found.end() :]


def instance_log_paths(spec: LogSpec, instance: int) -> tuple[Path, Path]:
    """The (out, err) files of one instance.

    With ``merge_logs`` every instance writes the spec's files; without, each gets its own,
    PM2-style: ``point-tron-out.log`` becomes ``point-tron-out-1.log`` for instance 1.
    """
    out, err = _absolute(spec.out_file), _absolute(spec.error_file)
    if spec.merge_logs:
        return out, err
    return _numbered(out, instance), _numbered(err, instance)


def _absolute(path: Path) -> Path:
    return path.absolute()


def _numbered(path: Path, instance: int) -> Path:
    suffix = path.suffix
    stem = path.name[: -len(suffix)] if suffix else path.name
    return path.with_name(f"{stem}-{instance}{suffix}")


@dataclass
class _Shared:
    writer: RotatingWriter
    refs: int = 0
    apps: dict[str, int] = field(default_factory=dict)


class InstanceLogSink:
    """The log output of one instance: ``write("out" | "err", lines)``.

    Made by :meth:`LogFiles.open_sink`. Each batch costs one clock read, one date format, one
    ``bytes.join`` and one ``os.write``.
    """

    def __init__(
        self,
        files: LogFiles,
        app: str,
        out_path: Path,
        err_path: Path,
        out: RotatingWriter,
        err: RotatingWriter,
        date_format: DateFormatter | None,
        clock: Callable[[], float],
        marker: bytes = b"",
    ) -> None:
        self.app = app
        self.out_path = out_path
        self.err_path = err_path
        self._files = files
        self._out = out
        self._err = err
        self._date_format = date_format
        self._clock = clock
        self._marker = marker
        self._closed = False

    def write(self, stream: Stream, lines: list[bytes]) -> bytes:
        """Write lines (without their ``\\n``) of the instance's stdout or stderr. Never raises.

        Returns the timestamp (with its space) put before each line, ``b""`` without one: each
        line as written is the instance's marker (if any), the timestamp, then the line.
        """
        if not lines or self._closed:
            return b""
        writer = self._err if stream == "err" else self._out
        date_format = self._date_format
        prefix = b""
        if date_format is not None:
            try:
                prefix = f"{date_format(self._clock())} ".encode()
            except Exception:  # a broken formatter must not stop the logs
                prefix = b""
        head = self._marker + prefix
        if not head:
            writer.write(b"\n".join(lines) + b"\n")
        else:
            writer.write(head + (b"\n" + head).join(lines) + b"\n")
        return prefix

    def close(self) -> None:
        """Release this instance's files (they stay open while another instance uses them)."""
        if self._closed:
            return
        self._closed = True
        self._files._release(self.app, self.out_path)
        self._files._release(self.app, self.err_path)


class LogFiles:
    """All log writers of one supervisor, shared by path."""

    def __init__(
        self,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
    ) -> None:
        self._on_error = on_error
        self._clock = clock
        self._check_interval = check_interval
        self._shared: dict[Path, _Shared] = {}
        self._closed_bytes = 0
        self._closed_dropped = 0
        self._draining: list[RotatingWriter] = []  # closed, their gzip still queued or running

    @property
    def bytes_written(self) -> int:
        """Bytes written to every log file of this supervisor, ever."""
        return self._closed_bytes + sum(s.writer.written_bytes for s in self._shared.values())

    @property
    def lines_dropped(self) -> int:
        """Lines that could not be written (disk full, a refused link, ...), ever."""
        return self._closed_dropped + sum(s.writer.dropped_lines for s in self._shared.values())

    def open_sink(
        self,
        app: str,
        spec: LogSpec,
        instance: int,
        *,
        instances: int = 1,
        owner: tuple[int, int] | None = None,
    ) -> InstanceLogSink:
        """Open (or share) the files of one instance of an app of ``instances`` instances;
        with ``owner`` (uid, gid), the files belong to the user the app runs as.

        A file already open for another sink keeps the settings it was opened with. In merged
        files of several instances, each line starts with :func:`instance_marker`.
        """
        out_path, err_path = instance_log_paths(spec, instance)
        out = self._acquire(app, out_path, spec, owner)
        err = self._acquire(app, err_path, spec, owner)
        marker = instance_marker(instance) if spec.merge_logs and instances > 1 else b""
        return InstanceLogSink(
            self, app, out_path, err_path, out, err, spec.date_format, self._clock, marker
        )

    def writer(self, path: Path) -> RotatingWriter | None:
        """The open writer of ``path``, if any (for status and tests)."""
        shared = self._shared.get(_absolute(path))
        return shared.writer if shared else None

    def reopen_all(self) -> None:
        """Reopen every file (``ptm reloadLogs``, after an external logrotate)."""
        for shared in self._shared.values():
            shared.writer.reopen()

    def truncate(self, app: str | None = None) -> None:
        """Empty the current files of ``app`` (or of every app): ``ptm flush``.

        Raises :class:`~supervisor_core.errors.LogError` naming every file that could not be
        emptied (the others are emptied anyway).
        """
        failures: list[str] = []
        for shared in self._shared.values():
            if app is None or app in shared.apps:
                try:
                    shared.writer.truncate()
                except LogError as exc:
                    failures.append(str(exc))
        if failures:
            raise LogError("; ".join(failures))

    def paths(self, app: str) -> list[Path]:
        """The current files of ``app`` (out and err of every open instance, no duplicates)."""
        return [path for path, shared in self._shared.items() if app in shared.apps]

    def close(self) -> None:
        """Close every file, and wait for background compression: that of the files still
        open and that of files closed earlier (their writers do not wait, see ``_release``)."""
        shared, self._shared = self._shared, {}
        for entry in shared.values():
            entry.writer.close(wait=True)
        draining, self._draining = self._draining, []
        for writer in draining:
            writer.close(wait=True)

    def _acquire(
        self, app: str, path: Path, spec: LogSpec, owner: tuple[int, int] | None
    ) -> RotatingWriter:
        shared = self._shared.get(path)
        if shared is None:
            writer = RotatingWriter(
                path,
                max_size=spec.max_size,
                max_files=spec.max_files,
                compress=spec.compress,
                rotate_interval=spec.rotate_interval,
                compress_delay=spec.compress_delay,
                file_mode=spec.file_mode,
                on_error=self._on_error,
                check_interval=self._check_interval,
                owner=owner,
            )
            shared = self._shared[path] = _Shared(writer)
        shared.refs += 1
        shared.apps[app] = shared.apps.get(app, 0) + 1
        return shared.writer

    def _release(self, app: str, path: Path) -> None:
        shared = self._shared.get(path)
        if shared is None:
            return  # LogFiles.close() came first
        shared.refs -= 1
        left = shared.apps.get(app, 0) - 1
        if left > 0:
            shared.apps[app] = left
        else:
            shared.apps.pop(app, None)
        if shared.refs <= 0:
            del self._shared[path]
            # On the event loop (ptm delete, scaling down, a restart with new settings): a
            # gzip of a big rotated file goes on in the background; close() waits for it.
            shared.writer.close()
            self._draining = [w for w in self._draining if w.compressing]
            if shared.writer.compressing:
                self._draining.append(shared.writer)
            self._closed_bytes += shared.writer.written_bytes
            self._closed_dropped += shared.writer.dropped_lines
