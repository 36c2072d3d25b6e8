"""``ptm list``: one line per instance, in a table that fits the terminal.

Rows are ``ptm jlist`` elements (``docs/api.md``): mappings whose values may all be ``None``.
Standard library only (``ptm list`` starts fast).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from supervisor_core.cli._format import (
    BOLD,
    ROW_COLUMNS,
    Cell,
    Column,
    Layout,
    fitted_table,
    row_cells,
    row_labels,
    text,
)

__all__ = ["EMPTY_LIST", "render_list"]

# When the terminal is too narrow, names are cut (down to 8 characters), then these columns go.
_LIST: Final = Layout(
    columns=(
        Column("id", "id"),
        Column("name", "name"),
        Column("mode", "mode"),
        *ROW_COLUMNS.values(),
    ),
    flexible=(("name", 8),),
    droppable=("mode", "pid", "cpu", "uptime", "restarts", "mem"),
)

EMPTY_LIST: Final = (
    "No app is running. Start one with: ptm start ecosystem.toml (ptm init writes one)"
)


def _list_cells(row: Mapping[str, Any], label: str) -> dict[str, Cell]:
    return {
        "id": (text(row.get("id")), None),
        "name": (label, BOLD),
        "mode": (text(row.get("exec_mode")), None),
        **row_cells(row),
    }


def render_list(rows: Sequence[Mapping[str, Any]], *, color: bool, width: int | None = None) -> str:
    """The ``ptm list`` table, one line per instance, fitted into ``width`` columns if given.

    Too wide: names are ellipsized (down to 8 characters), then the least useful columns are
    left out (mode, pid, cpu, uptime, restarts, mem). Each instance has its own ``id`` (its process
    id) and they are named ``name:0``, ``name:1``... An empty ``rows`` gives a line with a hint.
    """
    if not rows:
        return EMPTY_LIST
    cells = [_list_cells(row, label) for row, label in zip(rows, row_labels(rows), strict=True)]
    return "\n".join(fitted_table(_LIST, cells, color=color, width=width))
