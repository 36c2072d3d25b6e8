"""``daemon.log``: the daemon's own log, rotated by the writer that rotates the apps' logs.

``ptm`` starts the daemon with its stdout and stderr appended to ``$PTM_HOME/daemon.log``. The
daemon then writes its log records through a :class:`~supervisor_core.logs.RotatingWriter` on
that file (rotated at :data:`MAX_SIZE`, :data:`MAX_FILES` kept, gzipped, mode 0600), and
points its descriptors 1 and 2 at each new file the writer opens, so that whatever else
reaches stdout or stderr (a warning of a library, a crash's traceback) lands in the current
file too. Under systemd (``ptm daemon --foreground`` with stderr to the journal) or any
other stderr that is not ``daemon.log``, records go to stderr as before and nothing rotates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Final

from supervisor_core._home import Home
from supervisor_core.logs import RotatingWriter

__all__ = ["FORMAT", "MAX_FILES", "MAX_SIZE", "DaemonLog"]

FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_SIZE: Final = 10 * 1024 * 1024
"""``daemon.log`` is rotated before it would pass 10 MiB ..."""
MAX_FILES: Final = 10
"""... and the newest 10 rotated files are kept (gzipped): at most about 110 MiB."""
FILE_MODE: Final = 0o600


class _WriterHandler(logging.Handler):
    """A logging handler writing each record as whole lines through a RotatingWriter."""

    def __init__(self, writer: RotatingWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.writer.write(text.encode("utf-8", "replace") + b"\n")  # never raises


class DaemonLog:
    """Where the daemon's log records go; :meth:`reopen` on SIGHUP, :meth:`close` at exit."""

    def __init__(self, home: Home, handler: logging.Handler, writer: RotatingWriter | None):
        self.home = home
        self.handler = handler
        self.writer = writer

    @classmethod
    def install(
        cls,
        home: Home,
        *,
        level: int = logging.INFO,
        max_size: int = MAX_SIZE,
        max_files: int = MAX_FILES,
    ) -> DaemonLog:
        """Send the root logger's records to ``daemon.log`` (rotating) if stderr is that file,
        else to stderr."""
        writer: RotatingWriter | None = None
        handler: logging.Handler
        if _stderr_is(home.daemon_log):
            writer = RotatingWriter(
                home.daemon_log,
                max_size=max_size,
                max_files=max_files,
                compress=True,
                file_mode=FILE_MODE,
                on_open=_point_stdio_at,
                on_error=_say_on_stderr,
            )
            handler = _WriterHandler(writer)
        else:
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(level)
        return cls(home, handler, writer)

    def reopen(self) -> None:
        """After an external rotation of ``daemon.log``: write to a fresh file."""
        if self.writer is None:
            return  # a terminal or the journal: nothing to reopen
        self.handler.acquire()
        try:
            self.writer.reopen()
        finally:
            self.handler.release()

    def close(self) -> None:
        """Stop writing (waits for a gzip in progress)."""
        logging.getLogger().removeHandler(self.handler)
        if self.writer is not None:
            self.writer.close(wait=True)


def _stderr_is(path: Path) -> bool:
    """Whether descriptor 2 is the regular file ``path`` names (not through a link)."""
    try:
        ours = os.fstat(2)
        there = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(ours.st_mode) and (ours.st_dev, ours.st_ino) == (
        there.st_dev,
        there.st_ino,
    )


def _point_stdio_at(fd: int) -> None:
    """stdout and stderr follow the writer to each new ``daemon.log``."""
    for std in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            std.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)


def _say_on_stderr(message: str) -> None:
    """A problem of ``daemon.log`` itself: said on stderr (the file, if it can be written)."""
    with contextlib.suppress(OSError):
        os.write(2, f"ptm daemon.log: {message}\n".encode("utf-8", "replace"))
