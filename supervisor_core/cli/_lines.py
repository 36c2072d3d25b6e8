"""Lines of output: ``ptm logs``'s prefixed lines (and the ``LogLine`` that ``ptm monit`` shows).

Standard library only. Log items are ``GET /v1/logs`` elements; rows are ``ptm jlist`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from supervisor_core.cli._format import (
    STDERR,
    app_color,
    style,
)

__all__ = ["LogLine", "format_log_line", "label_width"]


class LogLine(NamedTuple):
    """One output line of one instance, as ``GET /v1/logs`` gives it."""

    app: str
    instance: int
    stream: str
    """``out`` or ``err``."""
    line: str


def _label(app: str, instance: int, instances: int) -> str:
    return f"{app}:{instance}" if instances > 1 or instance > 0 else app


def label_width(instances: Mapping[str, int]) -> int:
    """The ``width`` to give :func:`format_log_line` so that the lines of these apps align.

    ``instances`` maps each app shown to its number of instances.
    """
    return max((len(_label(app, count - 1, count)) for app, count in instances.items()), default=0)


def _log_parts(
    app: str, instance: int, stream: str, line: str, *, width: int, instances: int
) -> tuple[str, str, str]:
    label = _label(app, instance, instances).ljust(width)
    mark = "!" if stream == "err" else "|"
    return label, mark, line.rstrip("\r\n")


def format_log_line(
    app: str,
    instance: int,
    stream: str,
    line: str,
    *,
    color: bool,
    width: int,
    instances: int = 1,
) -> str:
    """One line of ``ptm logs``: ``api | text`` for stdout, ``api ! text`` for stderr.

    ``width`` pads the app label so that the lines of several apps align (see
    :func:`label_width`); the text itself is never cut. The label reads ``api:1`` for an app
    with several ``instances`` (or any instance but the first). With ``color`` the label takes
    a colour of its own per app and stderr text is red.
    """
    label, mark, body = _log_parts(app, instance, stream, line, width=width, instances=instances)
    if not color:
        return f"{label} {mark} {body}"
    prefix = style(f"{label} {mark}", app_color(app), color)
    return f"{prefix} {style(body, STDERR, color) if stream == 'err' else body}"
