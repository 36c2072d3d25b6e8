"""``GET /v1/logs``: the last lines of the log files of the apps (or the process) a target
names, read back from the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import anyio

from supervisor_core._supervisor import Supervisor
from supervisor_core.daemon._targets import Selection
from supervisor_core.logs import split_marker, tail_lines

__all__ = ["log_paths", "tail_logs"]

_MOST_READ: Final = 1_000_000
"""The most lines read back from a shared file to find one instance's last lines."""


def log_paths(
    sup: Supervisor, selection: Selection | None, stream: str
) -> list[tuple[str, int, str, Path]]:
    """(app, instance, stream, path) of each distinct log file of the selected instances
    (every instance of every app when ``selection`` is None)."""
    chosen: Selection = dict.fromkeys(sup.names) if selection is None else selection
    seen: set[Path] = set()
    out: list[tuple[str, int, str, Path]] = []
    for name, picked in chosen.items():
        for info in sup.info(name):
            if picked is not None and info.instance not in picked:
                continue
            for kind, file in (("out", info.out_file), ("err", info.error_file)):
                if file is None or stream not in ("both", kind):
                    continue
                path = Path(file)
                if path in seen:
                    continue
                seen.add(path)
                out.append((name, info.instance, kind, path))
    return out


async def _lines_of(
    path: Path, lines: int, shared: bool, picked: tuple[int, ...] | None
) -> list[tuple[int | None, bytes]]:
    """The last ``lines`` lines of ``path`` with the instance that wrote each (None when the
    file is not shared), only those of ``picked`` instances when given. A shared file is read
    further back until it has enough of them, or is read whole."""
    wanted = lines
    while True:
        found = await anyio.to_thread.run_sync(tail_lines, path, wanted)
        # A file shared by instances names the writer of each line; a line without a marker
        # there is instance 0's, from before a scale up (docs/logs.md).
        marked = [split_marker(raw) if shared else (None, raw) for raw in found]
        if shared:
            marked = [(0 if who is None else who, text) for who, text in marked]
        if picked is not None:
            marked = [(who, text) for who, text in marked if who is None or who in picked]
        if len(marked) >= lines or len(found) < wanted or wanted >= _MOST_READ or not lines:
            return marked[-lines:] if lines else []
        wanted = min(wanted * 4, _MOST_READ)


async def tail_logs(
    sup: Supervisor, selection: Selection | None, lines: int, stream: str
) -> list[dict[str, Any]]:
    """The last ``lines`` lines of each log file of the selection, as ``{"app",
    "instance", "stream", "line"}``; a process picked by id gets only its own lines, also
    from a file its instances share (``merge_logs``)."""
    result: list[dict[str, Any]] = []
    for name, instance, kind, path in log_paths(sup, selection, stream):
        spec = sup.spec(name)
        shared = spec.logs is not None and spec.logs.merge_logs and spec.instances > 1
        picked = None if selection is None else selection[name]
        for marked, text in await _lines_of(path, lines, shared, picked):
            result.append(
                {
                    "app": name,
                    "instance": instance if marked is None else marked,
                    "stream": kind,
                    "line": text.decode("utf-8", "replace"),
                }
            )
    return result
