"""Reading the log files of managed apps back for ``GET /v1/logs`` (``ptm logs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from supervisor_core._supervisor import Supervisor
from supervisor_core.logs import split_marker, tail_lines

__all__ = ["log_paths", "tail_files"]


def log_paths(sup: Supervisor, names: list[str], stream: str) -> list[tuple[str, int, str, Path]]:
    """(app, instance, stream, path) of each distinct log file of the apps ``names``."""
    seen: set[Path] = set()
    out: list[tuple[str, int, str, Path]] = []
    for name in names:
        for info in sup.info(name):
            for kind, file in (("out", info.out_file), ("err", info.error_file)):
                if file is None or stream not in ("both", kind):
                    continue
                path = Path(file)
                if path in seen:
                    continue
                seen.add(path)
                out.append((name, info.instance, kind, path))
    return out


async def tail_files(
    sup: Supervisor, paths: list[tuple[str, int, str, Path]], lines: int
) -> list[dict[str, Any]]:
    """The last ``lines`` lines of each file of ``paths`` (from :func:`log_paths`)."""
    result: list[dict[str, Any]] = []
    for name, instance, kind, path in paths:
        found = await anyio.to_thread.run_sync(tail_lines, path, lines)
        spec = sup.spec(name)
        shared = spec.logs is not None and spec.logs.merge_logs and spec.instances > 1
        for raw in found:
            # A file shared by instances names the writer of each line (docs/logs.md).
            marked, text = split_marker(raw) if shared else (None, raw)
            result.append(
                {
                    "app": name,
                    "instance": instance if marked is None else marked,
                    "stream": kind,
                    "line": text.decode("utf-8", "replace"),
                }
            )
    return result
