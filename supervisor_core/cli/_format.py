"""What every view of ``ptm`` shares: units, colour, and box tables fitted to the terminal.

Every function here is pure (text in, text out) and imports only the standard library, so that
``ptm list`` starts fast. Values may be ``None`` (shown as ``-``, never "N/A"). Colour is ANSI
SGR and only ever added when the caller asks for it (see :func:`use_color`); the visible layout
is the same either way.

Units: memory in powers of 1024 with lowercase units (``0b``, ``1023b``, ``1.0kb``, ``340kb``,
``1.2mb``, ``2.1gb``: one decimal below 10, whole numbers from 10); uptimes as one unit,
rounded down (``45s``, ``12m``, ``3h``, ``2D``); configured durations exactly, in the ecosystem
file's notation (``100ms``, ``1.6s``, ``5m``).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TextIO

__all__ = [
    "BOLD",
    "ELLIPSIS",
    "HEADER",
    "NONE",
    "ROW_COLUMNS",
    "STATUS_STYLE",
    "STDERR",
    "Cell",
    "Column",
    "Layout",
    "app_color",
    "cpu",
    "exact_duration",
    "fit",
    "fitted_table",
    "human_bytes",
    "human_duration",
    "row_cells",
    "row_labels",
    "status_cell",
    "style",
    "text",
    "use_color",
]

NONE: Final = "-"
ELLIPSIS: Final = "…"

_RESET: Final = "\x1b[0m"
BOLD: Final = "1"
HEADER: Final = "1;36"
STDERR: Final = "31"
STATUS_STYLE: Final = {
    "online": "32",
    "stopped": "90",
    "errored": "31",
    "waiting restart": "33",
    "launching": "33",
    "stopping": "33",
}
_APP_COLORS: Final = ("36", "32", "35", "33", "34", "96", "92", "95")
_BYTE_UNITS: Final = ("kb", "mb", "gb", "tb", "pb", "eb")


# ---------------------------------------------------------------------------------------------
# Units


def human_bytes(n: int | None) -> str:
    """``n`` bytes as ``0b``, ``1023b``, ``1.0kb``, ``340kb``, ``1.2mb``, ``2.1gb``; None is ``-``.

    Powers of 1024; one decimal below 10 of a unit, whole numbers from 10; a value that would
    round up to 1024 of a unit is shown in the next one (``1.0mb``, never ``1024kb``).
    """
    if n is None:
        return NONE
    if n < 0:
        raise ValueError(f"a byte count cannot be negative (got {n})")
    if n < 1024:
        return f"{n}b"
    value = float(n)
    for index, unit in enumerate(_BYTE_UNITS):
        value /= 1024
        shown = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        last = index == len(_BYTE_UNITS) - 1
        if float(shown) < 1024 or last:
            return f"{shown}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """An uptime as one unit, rounded down: ``45s``, ``12m``, ``3h``, ``2D``; ``None`` is ``-``.

    A negative value (a clock that went back) reads ``0s``.
    """
    if seconds is None or math.isnan(seconds):
        return NONE
    total = max(0, math.floor(seconds)) if math.isfinite(seconds) else 0
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m"
    if total < 86400:
        return f"{total // 3600}h"
    return f"{total // 86400}D"


def exact_duration(seconds: float) -> str:
    """A configured duration, exactly, in the ecosystem file's notation: ``100ms``, ``1.6s``,
    ``90s``, ``5m``, ``2h`` (minutes and hours only when whole)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def cpu(percent: float | None) -> str:
    """A cpu percentage: ``0.4%``, ``12%``; ``None`` is ``-``."""
    if percent is None:
        return NONE
    return f"{percent:.1f}%" if percent < 9.95 else f"{percent:.0f}%"


def text(value: object) -> str:
    """Any value as text; ``None`` and the empty text are ``-``."""
    if value is None or value == "":
        return NONE
    return str(value)


# ---------------------------------------------------------------------------------------------
# Colour


def style(shown: str, code: str | None, color: bool) -> str:
    """``shown`` in the ANSI style ``code`` when ``color`` is asked for."""
    if not color or not code or not shown:
        return shown
    return f"\x1b[{code}m{shown}{_RESET}"


def app_color(name: str) -> str:
    """The colour of an app's prefix: always the same for one name."""
    return _APP_COLORS[zlib.crc32(name.encode()) % len(_APP_COLORS)]


def use_color(stream: TextIO) -> bool:
    """Whether to colour ``stream``: a terminal, ``NO_COLOR`` unset or empty, ``TERM`` not dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (ValueError, AttributeError):  # a closed stream, or not a real file
        return False


def fit(shown: str, width: int) -> str:
    """``shown`` cut to ``width`` characters, the last one an ellipsis when cut."""
    if len(shown) <= width:
        return shown
    if width <= 0:
        return ""
    return shown[: width - 1] + ELLIPSIS


# ---------------------------------------------------------------------------------------------
# Rows


def row_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``name``, or ``name:instance`` for every row of an app that has more than one."""
    count: dict[str, int] = {}
    for row in rows:
        name = text(row.get("name"))
        count[name] = count.get(name, 0) + 1
    labels = []
    for row in rows:
        name = text(row.get("name"))
        instance = row.get("instance")
        many = count[name] > 1 or (isinstance(instance, int) and instance > 0)
        labels.append(f"{name}:{instance}" if many and instance is not None else name)
    return labels


Cell = tuple[str, str | None]
"""The visible text of a cell and its ANSI style (or ``None``)."""


def status_cell(status: object) -> Cell:
    """A status in its colour (``online`` green, ``errored`` red...)."""
    shown = text(status)
    return shown, STATUS_STYLE.get(shown)


def row_cells(row: Mapping[str, Any]) -> dict[str, Cell]:
    """The cells ``ptm list`` and ``describe`` both show of a ``jlist`` row: ``pid``,
    ``status``, ``restarts``, ``uptime``, ``cpu``, ``mem``."""
    return {
        "pid": (text(row.get("pid")), None),
        "status": status_cell(row.get("status")),
        "restarts": (text(row.get("restarts")), None),
        "uptime": (human_duration(row.get("uptime_s")), None),
        "cpu": (cpu(row.get("cpu_percent")), None),
        "mem": (human_bytes(row.get("memory_bytes")), None),
    }


# ---------------------------------------------------------------------------------------------
# Tables


class Column(NamedTuple):
    key: str
    header: str
    right: bool = False


class Layout(NamedTuple):
    """A table's columns and how it fits a narrow terminal: first the ``flexible`` columns are
    narrowed (down to their minimum, their cells ellipsized), then the ``droppable`` columns
    are left out, in order."""

    columns: tuple[Column, ...]
    flexible: tuple[tuple[str, int], ...]
    droppable: tuple[str, ...]


def _table(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Cell]],
    widths: Mapping[str, int],
    *,
    color: bool,
) -> list[str]:
    """A box table; ``widths`` are the inner widths (cells longer than that are ellipsized)."""

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (widths[c.key] + 2) for c in columns) + right

    def line(cells: Iterable[tuple[Column, Cell]]) -> str:
        parts = []
        for column, (shown, code) in cells:
            width = widths[column.key]
            visible = fit(shown, width)
            pad = " " * (width - len(visible))
            styled = style(visible, code, color)
            parts.append(f" {pad}{styled} " if column.right else f" {styled}{pad} ")
        return "│" + "│".join(parts) + "│"

    lines = [rule("┌", "┬", "┐")]
    lines.append(line((c, (c.header, HEADER)) for c in columns))
    lines.append(rule("├", "┼", "┤"))
    lines.extend(line((c, row[c.key]) for c in columns) for row in rows)
    lines.append(rule("└", "┴", "┘"))
    return lines


def _table_width(columns: Sequence[Column], widths: Mapping[str, int]) -> int:
    return sum(widths[c.key] + 3 for c in columns) + 1


ROW_COLUMNS: Final = {
    column.key: column
    for column in (
        Column("pid", "pid", right=True),
        Column("status", "status"),
        Column("restarts", "↺", right=True),
        Column("uptime", "uptime", right=True),
        Column("cpu", "cpu", right=True),
        Column("mem", "mem", right=True),
    )
}
"""The columns of the cells of :func:`row_cells`, by key, in ``ptm list``'s order."""


def fitted_table(
    layout: Layout, rows: Sequence[Mapping[str, Cell]], *, color: bool, width: int | None
) -> list[str]:
    """The lines of a box table, fitted into ``width`` columns if given (see :class:`Layout`)."""
    kept = list(layout.columns)
    widths = {c.key: max([len(c.header), *(len(row[c.key][0]) for row in rows)]) for c in kept}
    if width is not None:
        for key, minimum in layout.flexible:
            excess = _table_width(kept, widths) - width
            if excess <= 0:
                break
            if any(c.key == key for c in kept):
                widths[key] = max(min(minimum, widths[key]), widths[key] - excess)
        for key in layout.droppable:
            if _table_width(kept, widths) <= width:
                break
            kept = [c for c in kept if c.key != key]
    return _table(kept, rows, widths, color=color)
