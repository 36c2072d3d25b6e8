"""The last lines of a log file, read backwards so a 10 GB file costs no more than a small one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from supervisor_core.errors import LogError

__all__ = ["tail_lines"]

BLOCK = 65536


def tail_lines(path: Path, n: int) -> list[bytes]:
    """The last ``n`` lines of ``path`` (without ``\\n``), oldest first.

    A missing file has no lines, nor has a FIFO (``out_file`` may be one a log shipper
    reads: what went through it is gone) or a device (``/dev/null``). A last line without
    ``\\n`` counts as a line. Raises :class:`~supervisor_core.errors.LogError` if the file
    exists but cannot be read.
    """
    if n <= 0:
        return []
    try:  # O_NONBLOCK: opening a FIFO with no writer would wait for one
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LogError(f"log {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            return []  # a FIFO or a device keeps no past lines (a folder: EISDIR below)
        pos = os.lseek(fd, 0, os.SEEK_END)
        if pos == 0:
            return []
        blocks: list[bytes] = []
        newlines = 0
        ends_with_newline: bool | None = None
        # With a final "\n", n whole lines need n + 1 newlines in view; else n.
        while pos > 0:
            size = min(BLOCK, pos)
            pos -= size
            block = os.pread(fd, size, pos)
            if ends_with_newline is None:
                ends_with_newline = block.endswith(b"\n")
            blocks.append(block)
            newlines += block.count(b"\n")
            if newlines - ends_with_newline >= n:
                break
    except OSError as exc:
        raise LogError(f"log {path}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    data = b"".join(reversed(blocks))
    if ends_with_newline:
        data = data[:-1]
    return data.split(b"\n")[-n:]
