"""The files of one log: its rotated siblings, and opening without following a planted link.

Symbolic links: every file is opened with ``O_NOFOLLOW``. A log path that is a link is
followed only when its folder is one nobody else can change (owned by root or by us, not
writable by group or others), like ``/dev/stdout`` in ``/dev``: then the link is the owner's
choice. In any other folder a link may have been swapped in by another user to make a root
daemon append to, create or empty a file of its choosing, so it is refused and reported
like any other failure to open (the lines are dropped, nothing is written, created or
truncated through it), and rotated files are gzipped only if they are still plain files.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Final

__all__ = ["FILE_MODE", "open_no_link", "rotated_files", "rotated_pattern", "scan", "stem_suffix"]

FILE_MODE: Final = 0o640
"""Mode of created log files (before the umask): logs may hold secrets, so not world-readable."""


def rotated_pattern(path: Path) -> re.Pattern[str]:
    stem, suffix = stem_suffix(path)
    return re.compile(
        rf"{re.escape(stem)}__(\d{{8}}T\d{{6}}Z)-(\d+){re.escape(suffix)}(\.gz)?(\.tmp)?"
    )


def stem_suffix(path: Path) -> tuple[str, str]:
    suffix = path.suffix
    return (path.name[: -len(suffix)] if suffix else path.name), suffix


def scan(path: Path) -> tuple[list[list[Path]], list[Path]]:
    """Rotated files of ``path`` grouped per rotation (oldest first), and stale ``.tmp`` files."""
    pattern = rotated_pattern(path)
    try:
        names = [entry.name for entry in path.parent.iterdir()]
    except OSError:
        return [], []
    groups: dict[tuple[str, int], list[Path]] = {}
    temps: list[Path] = []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        if match.group(4):
            temps.append(path.parent / name)
            continue
        key = (match.group(1), int(match.group(2)))
        groups.setdefault(key, []).append(path.parent / name)
    return [groups[key] for key in sorted(groups)], temps


def _folder_is_private(folder: Path) -> bool:
    """Whether only root and this process's user can add, remove or rename entries in it."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid in (0, os.geteuid()) and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _link_refused(path: Path) -> OSError:
    return OSError(
        errno.ELOOP,
        "it is a symbolic link in a folder other users can write to; refusing to follow it",
        str(path),
    )


def open_no_link(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """``os.open`` that follows a final symbolic link only in a private folder (see above).

    Raises OSError (ELOOP, saying so) for a refused link, dangling or not: nothing is created.
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        try:
            is_link = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            raise exc from None
        if not is_link:
            raise  # a loop in the folders above, not our link
    if not _folder_is_private(path.parent):
        raise _link_refused(path)
    return os.open(path, flags, mode)


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of the log ``path``, oldest first (``.gz`` ones included)."""
    out: list[Path] = []
    for group in scan(Path(path))[0]:
        gz = [p for p in group if p.name.endswith(".gz")]
        out.append(gz[0] if gz else group[0])
    return out
