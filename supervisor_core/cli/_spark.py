"""Sparklines: a series of numbers as one line of block characters ``▁▂▃▄▅▆▇█``.

Pure and standard library only; used by ``ptm describe`` and ``ptm monit`` to draw the
history the daemon serves (``GET /v1/processes/{target}/history``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from supervisor_core.cli._format import cpu, human_bytes, style

__all__ = [
    "BLOCKS",
    "GAP",
    "bucket",
    "points_per_mark",
    "sparkline",
    "usage_lines",
    "usage_sparks",
]

BLOCKS: Final = "▁▂▃▄▅▆▇█"
GAP: Final = " "
"""Where there is no sample (the process was not running)."""
CPU_FLOOR: Final = 1.0
"""cpu lines are drawn on a scale of at least 0-1%, so idle noise stays at the bottom."""


def bucket(values: Sequence[float | None], width: int, *, peak: bool = False) -> list[float | None]:
    """``values`` squeezed into at most ``width`` points: each the mean (or with ``peak`` the
    largest) of the known values it covers, None when it covers none. Fewer values than
    ``width`` are returned as they are (never stretched)."""
    if width <= 0:
        return []
    n = len(values)
    if n <= width:
        return list(values)
    out: list[float | None] = []
    for i in range(width):
        known = [v for v in values[i * n // width : (i + 1) * n // width] if v is not None]
        if not known:
            out.append(None)
        else:
            out.append(max(known) if peak else sum(known) / len(known))
    return out


def sparkline(
    values: Sequence[float | None],
    width: int | None = None,
    *,
    high: float | None = None,
    peak: bool = False,
) -> str:
    """One block character per point, from 0 (``▁``) to ``high`` (``█``; the largest value
    by default), a space where a point is None. With ``width``, the values are first
    squeezed by :func:`bucket` (``peak``: the largest of each group instead of the mean).
    Negative values count as 0; values above ``high`` as ``high``."""
    points = list(values) if width is None else bucket(values, width, peak=peak)
    known = [v for v in points if v is not None]
    top = high if high is not None else max(known, default=0.0)
    last = len(BLOCKS) - 1
    marks: list[str] = []
    for v in points:
        if v is None:
            marks.append(GAP)
        elif top <= 0:
            marks.append(BLOCKS[0])
        else:
            level = round(min(1.0, max(0.0, v / top)) * last)
            marks.append(BLOCKS[level])
    return "".join(marks)


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def usage_lines(
    processes: Sequence[Mapping[str, Any]], *, width: int = 100, color: bool = False
) -> list[str]:
    """The "Usage" lines of ``ptm describe``: for each resolution (last 10 minutes, last 24
    hours), a cpu and a memory sparkline per instance with its largest value. ``processes``
    are the history answer's items. Empty when no instance has a sample at all."""
    lines: list[str] = []
    labels = [str(p.get("instance", "")) for p in processes]
    pad = max((len(label) for label in labels), default=1)
    room = max(10, min(72, width - pad - 2 - 6 - 14))
    for resolution in ("second", "minute"):
        series = [p.get(resolution) for p in processes]
        if not any(
            isinstance(s, Mapping) and any(v is not None for v in s.get("memory_bytes") or [])
            for s in series
        ):
            continue
        first = next(s for s in series if isinstance(s, Mapping))
        count = len(first.get("memory_bytes") or [])
        step = float(first.get("step") or 1)
        group = points_per_mark(count, room)
        spark_w, per_mark = count // group, step * group
        heading = f"Usage, last {_span(step * count)} (a mark is {_span(per_mark)}"
        heading += ", a minute's mean cpu and largest memory)" if resolution == "minute" else ")"
        lines.append(style(heading, "1;36", color))
        for label, s in zip(labels, series, strict=True):
            if not isinstance(s, Mapping):
                continue
            cpu_line, mem_line, cpu_top, mem_top = usage_sparks(s, spark_w)
            lines.append(f"  {label.rjust(pad)}  cpu  {cpu_line}  max {cpu(cpu_top)}".rstrip())
            lines.append(f"  {' ' * pad}  mem  {mem_line}  max {human_bytes(mem_top)}".rstrip())
    return lines


def points_per_mark(count: int, room: int) -> int:
    """How many points of ``count`` each mark shows so that the marks fit in ``room``: a
    divisor of the count, so that every mark covers as many."""
    return next(d for d in range(1, count + 1) if count % d == 0 and count / d <= room)


def usage_sparks(
    series: Mapping[str, Any], width: int
) -> tuple[str, str, float | None, int | None]:
    """The cpu and memory sparklines of one history series (``cpu_percent``,
    ``memory_bytes``) in ``width`` marks, and the largest cpu and memory (None: no sample)."""
    cpus: list[float | None] = list(series.get("cpu_percent") or [])
    mems: list[float | None] = list(series.get("memory_bytes") or [])
    cpu_top = max((v for v in cpus if v is not None), default=None)
    mem_top = max((v for v in mems if v is not None), default=None)
    cpu_line = sparkline(cpus, width, high=max(cpu_top or 0.0, CPU_FLOOR))
    mem_line = sparkline(mems, width, peak=True)
    return cpu_line, mem_line, cpu_top, None if mem_top is None else int(mem_top)
