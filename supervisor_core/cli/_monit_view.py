"""What interactive ``ptm monit`` draws: one screen from plain data, no terminal involved.

The process list (with cpu and memory sparklines of the last seconds), the selected process's
details (its 10-minute and 24-hour history) and live log lines, and a footer with the keys, a
filter being typed, a question or a message. :mod:`supervisor_core.cli._monit_tui` reads the
keys and the daemon and calls :func:`render` once a second and after each key. Standard
library only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from supervisor_core.cli._format import (
    BOLD,
    HEADER,
    STATUS_STYLE,
    STDERR,
    cpu,
    fit,
    human_bytes,
    human_duration,
    style,
    text,
)
from supervisor_core.cli._lines import LogLine
from supervisor_core.cli._spark import CPU_FLOOR, points_per_mark, sparkline, usage_sparks

__all__ = ["KEYS_HINT", "Key", "MonitState", "label", "render", "visible_rows"]

Key = tuple[str, int]
"""A process on screen: (app name, instance)."""
KEYS_HINT: Final = "↑↓ select  r restart  l reload  s stop  t start  / filter  q quit"
SELECTED: Final = "7"  # reverse video
_VALUE_W: Final = 6


@dataclass
class MonitState:
    """Everything one screen shows."""

    rows: Sequence[Mapping[str, Any]] = field(default_factory=list)
    """``jlist`` rows, every app's."""
    recent: dict[Key, tuple[list[float | None], list[float | None]]] = field(default_factory=dict)
    """cpu and memory of the last seconds of each process, oldest first."""
    detail: Mapping[str, Any] | None = None
    """The history answer's item of the selected process (``second`` and ``minute``)."""
    logs: list[LogLine] = field(default_factory=list)
    """The selected process's newest output lines, oldest first."""
    selected: Key | None = None
    filter: str = ""
    filtering: bool = False
    """The filter is being typed."""
    question: str | None = None
    """A yes/no question waiting for ``y``."""
    message: str | None = None


def label(row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    name, instance = str(row.get("name")), int(row.get("instance") or 0)
    several = sum(1 for r in rows if r.get("name") == name) > 1
    return f"{name}:{instance}" if several or instance > 0 else name


def key_of(row: Mapping[str, Any]) -> Key:
    return (str(row.get("name")), int(row.get("instance") or 0))


def visible_rows(state: MonitState) -> list[Mapping[str, Any]]:
    """The rows the filter lets through (a piece of the name, any case)."""
    needle = state.filter.lower()
    return [r for r in state.rows if needle in label(r, state.rows).lower()]


def _title(state: MonitState, width: int) -> str:
    online = sum(1 for row in state.rows if row.get("status") == "online")
    apps = len({row.get("name") for row in state.rows})
    title = f"ptm monit · {apps} app{'s' if apps != 1 else ''} · {online}/{len(state.rows)} online"
    if state.filter:
        title += f" · filter: {state.filter}"
    hint = "q or Ctrl-C to quit"
    if len(title) + 2 + len(hint) <= width:
        title += " " * (width - len(title) - len(hint)) + hint
    return fit(title, width)


def _row_line(
    row: Mapping[str, Any],
    name: str,
    widths: tuple[int, int, int, int, int],
    recent: tuple[list[float | None], list[float | None]] | None,
) -> str:
    id_w, name_w, status_w, restart_w, spark_w = widths
    status = text(row.get("status"))
    head = (
        f"{text(row.get('id')).rjust(id_w)} {fit(name, name_w).ljust(name_w)} "
        f"{status.ljust(status_w)} {text(row.get('restarts')).rjust(restart_w)}"
    )
    cpu_text = cpu(row.get("cpu_percent")).rjust(_VALUE_W)
    mem_text = human_bytes(row.get("memory_bytes")).rjust(_VALUE_W)
    if spark_w:
        cpus, mems = recent if recent is not None else ([], [])
        high = max([CPU_FLOOR, *(v for v in cpus if v is not None)])
        cpu_spark = sparkline(cpus[-spark_w:], high=high).rjust(spark_w)
        mem_spark = sparkline(mems[-spark_w:]).rjust(spark_w)
        return f"{head} {cpu_spark} {cpu_text} {mem_spark} {mem_text}"
    return f"{head} {cpu_text} {mem_text}"


def _list(state: MonitState, shown: list[Mapping[str, Any]], width: int, room: int) -> list[str]:
    """The header and the rows that fit in ``room`` lines, scrolled to the selected one."""
    labels = [label(r, state.rows) for r in shown]
    id_w = max([2, *(len(text(r.get("id"))) for r in shown)])
    name_w = min(max([4, *(len(x) for x in labels)]), max(8, width // 4))
    status_w = max([6, *(len(text(r.get("status"))) for r in shown)])
    restart_w = max([1, *(len(text(r.get("restarts"))) for r in shown)])
    fixed = 2 + id_w + 1 + name_w + 1 + status_w + 1 + restart_w + 2 * (1 + _VALUE_W)
    spark_w = min(30, (width - fixed - 2) // 2)
    spark_w = spark_w if spark_w >= 5 else 0
    widths = (id_w, name_w, status_w, restart_w, spark_w)
    cpu_head = ("cpu" if not spark_w else f"cpu (last {spark_w} s)").rjust(spark_w + 1 + _VALUE_W)
    mem_head = ("mem" if not spark_w else f"mem (last {spark_w} s)").rjust(spark_w + 1 + _VALUE_W)
    header = (
        f"  {'id'.rjust(id_w)} {'name'.ljust(name_w)} {'status'.ljust(status_w)} "
        f"{'↺'.rjust(restart_w)} {cpu_head} {mem_head}"
    )
    lines = [fit(header, width)]
    keys = [key_of(r) for r in shown]
    at = keys.index(state.selected) if state.selected in keys else 0
    slots = max(1, room - 1)
    first = min(max(0, at - slots + 1), max(0, len(shown) - slots))
    for index in range(first, min(len(shown), first + slots)):
        row = shown[index]
        line = _row_line(row, labels[index], widths, state.recent.get(keys[index]))
        mark = "▶ " if index == at else "  "
        lines.append(fit(mark + line, width))
    return lines


def _details(state: MonitState, row: Mapping[str, Any], width: int) -> list[str]:
    facts = [
        f"pid {text(row.get('pid'))}",
        text(row.get("status")),
        f"up {human_duration(row.get('uptime_s'))}",
        f"{text(row.get('restarts'))} restarts",
    ]
    if row.get("last_restart_reason"):
        facts.append(f"last: {row['last_restart_reason']}")
    if row.get("exit_code") is not None:
        facts.append(f"exit {row['exit_code']}")
    facts.append(f"{text(row.get('exec_mode'))} mode")
    lines = [fit("  " + " · ".join(facts), width)]
    detail = state.detail or {}
    for resolution, span in (("second", "10 min"), ("minute", "24 h")):
        series = detail.get(resolution)
        if not isinstance(series, Mapping):
            continue
        count = len(series.get("cpu_percent") or [])
        room = (width - 40) // 2
        if room < 5 or not count:
            continue
        spark_w = count // points_per_mark(count, room)
        cpu_line, mem_line, cpu_top, mem_top = usage_sparks(series, spark_w)
        lines.append(
            fit(
                f"  {span.rjust(6)}  cpu {cpu_line.ljust(spark_w)} {cpu(cpu_top).rjust(_VALUE_W)}"
                f"  mem {mem_line.ljust(spark_w)} {human_bytes(mem_top).rjust(_VALUE_W)}",
                width,
            )
        )
    return lines


def _rule(title: str, width: int) -> str:
    head = f"── {title} " if title else ""
    return fit(head + "─" * max(0, width - len(head)), width)


def _footer(state: MonitState, width: int) -> tuple[str, str | None]:
    if state.question:
        return fit(state.question + " (y/n)", width), BOLD
    if state.filtering:
        return fit(f"/{state.filter}▏  Enter to keep, Esc to clear", width), BOLD
    if state.message:
        return fit(state.message, width), None
    return fit(KEYS_HINT, width), "2"


def render(state: MonitState, *, width: int, height: int, color: bool = False) -> list[str]:
    """Exactly ``height`` lines, none wider than ``width`` (a character a cell)."""
    width, height = max(20, width), max(6, height)
    shown = visible_rows(state)
    lines: list[tuple[str, str | None]] = [(_title(state, width), BOLD)]
    list_room = min(len(shown) + 1, max(2, (height - 4) * 2 // 5))
    if not state.rows:
        lines.append(("No app is running. Start one with: ptm start ecosystem.toml", None))
    elif not shown:
        lines.append((f"No process matches {state.filter!r}.", None))
    else:
        listed = _list(state, shown, width, list_room)
        lines.append((listed[0], HEADER))
        for line in listed[1:]:
            status = next((s for s in STATUS_STYLE if f" {s} " in line), None)
            # The selected row in reverse video; a row not online in its status's colour.
            code = SELECTED if line.startswith("▶") else None
            if code is None and status is not None and status != "online":
                code = STATUS_STYLE[status]
            lines.append((line, code))
    row = next((r for r in shown if key_of(r) == state.selected), shown[0] if shown else None)
    footer = _footer(state, width)
    if row is not None:
        lines.append((_rule(label(row, state.rows), width), None))
        lines.extend((line, None) for line in _details(state, row, width))
        lines.append((_rule(f"logs of {label(row, state.rows)}", width), None))
        room = height - len(lines) - 1
        if room > 0:
            for entry in state.logs[-room:]:
                mark = "!" if entry.stream == "err" else "|"
                body = fit(f"{mark} {entry.line.rstrip()}", width)
                lines.append((body, STDERR if entry.stream == "err" else None))
    lines = lines[: height - 1]
    lines.extend(("", None) for _ in range(height - 1 - len(lines)))
    lines.append(footer)
    fitted = [(fit(line, width), code) for line, code in lines]
    return [style(line, code, color) if code and line else line for line, code in fitted]
