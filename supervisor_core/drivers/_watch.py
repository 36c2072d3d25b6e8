"""``watch``: restart an app when its files change (see ``docs/cron-and-watch.md``).

- **What is watched.** A folder in ``watch`` is watched with everything under it; a file is
  watched through its folder (only that name counts), so an editor that saves by writing a
  new file and renaming it, or a file deleted and created again, is still seen.
- **What is ignored.** :data:`DEFAULT_IGNORE` plus the app's ``ignore_watch``, and always the
  app's own log files (with their rotated and per-instance siblings) and ``PTM_HOME``. A
  pattern is a glob (``*``, ``?``, ``[abc]``, ``**`` for any number of folders): without a
  ``/`` it is matched against each name in the path below the watched folder (``logs``,
  ``*.log``); with a ``/`` against the path relative to the app's ``cwd`` and every folder
  above it (``data/cache``, ``data/*.json``); an absolute pattern against the absolute path.
  A file named in ``watch`` itself is watched whatever the patterns say (its log files
  excepted).
- **Debounce.** A restart happens :data:`WATCH_DEBOUNCE` seconds after the last change of a
  burst: a checkout or a formatter touching fifty files restarts once, and two restarts are
  never closer than that.
- **Which instances.** Those ``online``, ``launching``, ``waiting restart`` and ``errored``:
  a change is the user fixing the code, so an app that ended in a crash loop gets one new
  try per burst (its crash-loop count is kept, so a fix that still crashes at once makes it
  ``errored`` again instead of looping). A stopped app stays stopped. The reason is
  ``watch``.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from watchfiles import Change, awatch

from supervisor_core._home import Home
from supervisor_core.config import AppSpec
from supervisor_core.drivers._control import AppControl
from supervisor_core.drivers._cron import restart_where
from supervisor_core.errors import PtmError
from supervisor_core.process import RESTARTABLE

__all__ = ["DEFAULT_IGNORE", "WATCH_DEBOUNCE", "WatchFilter", "watch_driver"]

WATCH_DEBOUNCE: Final = 0.5
"""Seconds of quiet after the last change before the app restarts."""

DEFAULT_IGNORE: Final = (
    # version control, virtualenvs, tool caches, dependencies
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".hypothesis",
    ".idea",
    # compiled files, editor leftovers
    "*.pyc",
    "*.pyo",
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    ".DS_Store",
    # what a running app writes: logs, databases and their journals, pid files, sockets
    "logs",
    "*.log",
    "*.db",
    "*.sqlite",
    "*.sqlite3",
    "*-wal",
    "*-shm",
    "*-journal",
    "*.pid",
    "*.sock",
)
"""Ignored for every app; ``ignore_watch`` adds to these."""

_AWATCH_STEP_MS: Final = 50
"""How long the watcher waits for more changes before handing over a batch."""
_AWATCH_MAX_BATCH_MS: Final = 100
"""The longest the watcher holds a batch while changes keep coming. Much shorter than the
debounce, so that a long burst is seen as one (watchfiles' own default of 1.6 s would leave
gaps in which the debounce runs out in the middle of the burst)."""


def _parts(pattern: str) -> tuple[str, ...]:
    return tuple(part for part in pattern.strip("/").split("/") if part not in ("", "."))


def _glob(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether ``parts`` matches ``pattern``, name by name (``**``: any number of names)."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob(rest, parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _glob(rest, parts[1:])


def _glob_or_parent(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether ``parts`` or one of the folders above it matches ``pattern``."""
    return any(_glob(pattern, parts[:end]) for end in range(1, len(parts) + 1))


def _log_pattern(path: Path) -> re.Pattern[str]:
    """A log file, its per-instance siblings (``-1``) and rotated copies (``__<time>``)."""
    suffix = path.suffix
    stem = path.name[: -len(suffix)] if suffix else path.name
    return re.compile(rf"{re.escape(stem)}(?:-\d+)?(?:{re.escape(suffix)}|__.*)")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


@dataclass(frozen=True)
class WatchFilter:
    """Which changed paths restart the app; a ``watchfiles`` filter (true: keep)."""

    cwd: Path
    folders: tuple[Path, ...]
    """Watched with everything under them."""
    files: frozenset[Path]
    """Watched through their folder."""
    names: tuple[str, ...]
    """Patterns without a ``/``: matched against each name below the watched folder."""
    relative: tuple[tuple[str, ...], ...]
    """Patterns with a ``/``, relative to ``cwd``, split into names."""
    absolute: tuple[tuple[str, ...], ...]
    logs: tuple[tuple[Path, re.Pattern[str]], ...] = ()
    """(folder, file-name pattern) of the app's own log files."""

    @classmethod
    def for_app(cls, spec: AppSpec) -> WatchFilter:
        """The filter for ``spec``: its ``watch`` paths, :data:`DEFAULT_IGNORE` plus its
        ``ignore_watch``, its log files, and ptm's own folder (``PTM_HOME``)."""
        home = glob.escape(str(Home.from_env().root))
        return cls.build(
            spec.watch.paths,
            cwd=spec.cwd,
            ignore=(*DEFAULT_IGNORE, home, *spec.watch.ignore),
            log_files=(spec.logs.out_file, spec.logs.error_file) if spec.logs else (),
        )

    @classmethod
    def build(
        cls,
        paths: Sequence[Path],
        *,
        cwd: Path,
        ignore: Sequence[str],
        log_files: Sequence[Path] = (),
    ) -> WatchFilter:
        cwd = _absolute(cwd)
        folders: list[Path] = []
        files: set[Path] = set()
        for path in map(_absolute, paths):
            if path.is_dir():
                folders.append(path)
            else:
                files.add(path)
        names: list[str] = []
        relative: list[tuple[str, ...]] = []
        absolute: list[tuple[str, ...]] = []
        for pattern in ignore:
            parts = _parts(pattern)
            if not parts:
                continue
            if pattern.startswith("/"):
                absolute.append(parts)
            elif len(parts) > 1 or pattern.rstrip("/").count("/"):
                relative.append(parts)
            else:
                names.append(parts[0])
        logs = tuple((_absolute(log).parent, _log_pattern(log)) for log in log_files)
        return cls(
            cwd=cwd,
            folders=tuple(folders),
            files=frozenset(files),
            names=tuple(names),
            relative=tuple(relative),
            absolute=tuple(absolute),
            logs=logs,
        )

    def sources(self) -> Iterator[tuple[tuple[Path, ...], bool]]:
        """What to hand the watcher: (paths, recursive) groups."""
        if self.folders:
            yield self.folders, True
        parents = sorted({file.parent for file in self.files} - set(self.folders))
        if parents:
            yield tuple(parents), False

    def is_log(self, path: Path) -> bool:
        return any(path.parent == folder and rx.fullmatch(path.name) for folder, rx in self.logs)

    def wanted(self, path: Path) -> bool:
        """Whether a change of ``path`` (absolute) should restart the app."""
        path = _absolute(path)
        if self.is_log(path):
            return False
        if path in self.files:
            return True
        root = next((folder for folder in self.folders if path.is_relative_to(folder)), None)
        if root is None:
            return False  # a sibling of a watched file
        below = path.relative_to(root).parts
        if any(fnmatchcase(name, pattern) for name in below for pattern in self.names):
            return False
        if path.is_relative_to(self.cwd):
            from_cwd = path.relative_to(self.cwd).parts
            if any(_glob_or_parent(pattern, from_cwd) for pattern in self.relative):
                return False
        return not any(_glob_or_parent(pattern, path.parts[1:]) for pattern in self.absolute)

    def __call__(self, change: Change, path: str) -> bool:
        return self.wanted(Path(path))


async def _pump(
    paths: tuple[Path, ...],
    recursive: bool,
    keep: WatchFilter,
    send: MemoryObjectSendStream[None],
    stop: anyio.Event,
    *,
    seen: list[str] | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    changes = awatch(
        *paths,
        watch_filter=keep,
        recursive=recursive,
        step=_AWATCH_STEP_MS,
        debounce=_AWATCH_MAX_BATCH_MS,
        stop_event=stop,
        ignore_permission_denied=True,
    )
    # The watcher waits in a worker thread for as long as it runs: it brings its own token to
    # anyio's default thread limiter, so that many watched apps never starve other users.
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens += 1
    try:
        # The watches are set up by the first step of the iteration below, before it waits
        # for anything: whoever awaited ``start`` runs again only after they exist.
        task_status.started()
        async for batch in changes:
            if seen is not None and len(seen) < _SEEN_LIMIT:
                seen.extend(path for _change, path in batch)
            # When full, a change is already waiting: the debounce counts from when it is taken.
            with contextlib.suppress(anyio.WouldBlock):
                send.send_nowait(None)
    finally:
        limiter.total_tokens -= 1


_SEEN_LIMIT = 1000
"""At most this many changed paths are remembered for one restart's notice."""


def _changed_text(paths: list[str], cwd: Path) -> str:
    """``app.py``, ``a.py, b.py``, or ``a.py, b.py, c.py and 4 more``, relative to ``cwd``."""
    if not paths:
        return "a watched file"
    shown = []
    for path in paths[:3]:
        try:
            shown.append(str(Path(path).relative_to(cwd)))
        except ValueError:
            shown.append(path)
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(shown) + more


async def restart_after_quiet(
    changes: MemoryObjectReceiveStream[None],
    debounce: float,
    restart: Callable[[], Awaitable[object]],
) -> None:
    """For each burst of ``changes``, call ``restart`` once ``debounce`` seconds have passed
    without another one."""
    async for _first in changes:
        while True:
            with anyio.move_on_after(debounce) as quiet:
                await changes.receive()
            if quiet.cancelled_caught:
                break
        await restart()


async def watch_driver(
    sup: AppControl,
    spec: AppSpec,
    *,
    debounce: float = WATCH_DEBOUNCE,
    on_watching: Callable[[], object] | None = None,
) -> None:
    """The ``watch`` driver: nothing for an app without ``watch``. ``on_watching`` is called
    once every watch is in place (tests wait on it)."""
    if not spec.watch.enabled:
        return
    keep = WatchFilter.for_app(spec)

    seen: list[str] = []

    async def restart() -> None:
        changed = _changed_text(sorted(set(seen)), spec.cwd)
        seen.clear()
        sup.notice(f"{spec.name}: {changed} changed: restarting")
        # A failed spawn is the instance's to report (and retry); the next change tries again.
        with contextlib.suppress(PtmError):
            await restart_where(sup, spec.name, "watch", RESTARTABLE)

    stop = anyio.Event()
    send, receive = anyio.create_memory_object_stream[None](16)
    with send, receive:
        async with anyio.create_task_group() as tg:
            try:
                for paths, recursive in keep.sources():
                    await tg.start(
                        functools.partial(_pump, seen=seen), paths, recursive, keep, send, stop
                    )
                if on_watching is not None:
                    on_watching()
                await restart_after_quiet(receive, debounce, restart)
            finally:
                # The watcher's thread checks this every step: without it a cancelled driver
                # would wait for the thread's own timeout (seconds) to end.
                stop.set()
