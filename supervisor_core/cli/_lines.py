"""Lines of output: ``ptm logs``'s prefixed lines and ``ptm monit``'s full-screen frame.

Standard library only. Log items are ``GET /v1/logs`` elements; rows are ``ptm jlist`` rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from supervisor_core.cli._format import (
    BOLD,
    HEADER,
    STATUS_STYLE,
    STDERR,
    app_color,
    cpu,
    fit,
    human_bytes,
    row_labels,
    style,
    text,
)

__all__ = ["LogLine", "format_log_line", "label_width", "render_monit_frame"]


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


# ---------------------------------------------------------------------------------------------
# ptm monit


def _bar(fraction: float | None, width: int) -> str:
    if width <= 0:
        return ""
    if fraction is None or math.isnan(fraction):
        return "[" + " " * width + "]"
    filled = round(min(1.0, max(0.0, fraction)) * width)
    return "[" + "|" * filled + " " * (width - filled) + "]"


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def render_monit_frame(
    rows: Sequence[Mapping[str, Any]],
    recent_lines: Sequence[LogLine | tuple[str, int, str, str]],
    *,
    width: int,
    height: int,
    color: bool = False,
    memory_total: int | None = None,
) -> str:
    """One screen of ``ptm monit``: exactly ``height`` lines, none wider than ``width``.

    At the top one line per instance (status, restarts, a cpu bar out of 100% and a memory
    bar out of ``memory_total``, by default this machine's RAM), below it the newest of
    ``recent_lines`` (oldest first, as ``GET /v1/logs`` gives them) that fit. Clearing the
    screen and moving the cursor home is the caller's business.
    """
    width = max(1, width)
    height = max(1, height)
    total_mem = memory_total if memory_total is not None else _total_memory()
    online = sum(1 for row in rows if row.get("status") == "online")
    apps = len({row.get("name") for row in rows})
    title = f"ptm monit · {apps} app{'s' if apps != 1 else ''} · {online}/{len(rows)} online"
    hint = "q or Ctrl-C to quit"
    if len(title) + 2 + len(hint) <= width:
        title = title + " " * (width - len(title) - len(hint)) + hint
    lines: list[tuple[str, str | None]] = [(fit(title, width), BOLD), ("─" * width, None)]

    logs = [LogLine(*entry) for entry in recent_lines]
    log_room = min(len(logs), 3, max(0, height - 6))
    row_room = max(1, height - len(lines) - 2 - log_room)  # table header, logs rule

    if not rows:
        lines.append(
            (fit("No app is running. Start one with: ptm start ecosystem.toml", width), None)
        )
    else:
        lines.extend(
            _monit_rows(rows, width=width, room=row_room, memory_total=total_mem, color=color)
        )

    rule = "── logs "
    lines.append((fit(rule + "─" * max(0, width - len(rule)), width), None))
    room = height - len(lines)
    if room > 0 and logs:
        counts: dict[str, int] = {}
        for entry in logs:
            counts[entry.app] = max(counts.get(entry.app, 0), entry.instance + 1)
        pad = min(label_width(counts), max(0, width // 3))
        for entry in logs[-room:]:
            lines.append(
                _monit_log_line(
                    entry, width=width, pad=pad, instances=counts[entry.app], color=color
                )
            )
    out = [(style(shown, code, color) if shown else shown) for shown, code in lines[:height]]
    out.extend("" for _ in range(height - len(out)))
    return "\n".join(out)


def _monit_log_line(
    entry: LogLine, *, width: int, pad: int, instances: int, color: bool
) -> tuple[str, None]:
    label, mark, body = _log_parts(
        entry.app, entry.instance, entry.stream, entry.line, width=pad, instances=instances
    )
    label = fit(label, pad) if pad else label
    prefix = f"{label} {mark} "
    body = fit(body, max(0, width - len(prefix)))
    if len(prefix) > width:
        return fit(prefix + body, width), None
    if not color:
        return prefix + body, None
    styled = style(prefix, app_color(entry.app), color)
    return styled + (style(body, STDERR, color) if entry.stream == "err" else body), None


def _monit_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    width: int,
    room: int,
    memory_total: int | None,
    color: bool,
) -> list[tuple[str, str | None]]:
    labels = row_labels(rows)
    statuses = [text(row.get("status")) for row in rows]
    restarts = [text(row.get("restarts")) for row in rows]
    name_w = min(max(len("app"), *(len(label) for label in labels)), max(8, width // 4))
    status_w = max(len("status"), *(len(s) for s in statuses))
    restart_w = max(1, *(len(r) for r in restarts))
    fixed = name_w + 1 + status_w + 1 + restart_w + 1
    value_w = 6  # "153%", "41.2mb", "1023kb"
    block = (width - fixed - 1) // 2  # two blocks: bar, space, value
    bar_w = block - value_w - 3 if block - value_w - 3 >= 3 else 0

    header_head = f"{'app'.ljust(name_w)} {'status'.ljust(status_w)} {'↺'.rjust(restart_w)} "
    cpu_head = "cpu".ljust(bar_w + 2 + 1 + value_w) if bar_w else "cpu".rjust(value_w)
    mem_head = "mem".ljust(bar_w + 2 + 1 + value_w) if bar_w else "mem".rjust(value_w)
    result: list[tuple[str, str | None]] = [
        (fit(f"{header_head}{cpu_head} {mem_head}".rstrip(), width), HEADER)
    ]
    shown = list(zip(rows, labels, statuses, restarts, strict=True))
    if len(shown) > room:
        hidden = len(shown) - room + 1
        shown = shown[: room - 1]
    else:
        hidden = 0
    for row, label, status, count in shown:
        cpu_value = row.get("cpu_percent")
        mem_value = row.get("memory_bytes")
        cpu_text = cpu(cpu_value).rjust(value_w)
        mem_text = human_bytes(mem_value).rjust(value_w)
        if bar_w:
            cpu_frac = None if cpu_value is None else cpu_value / 100
            mem_frac = None if mem_value is None or not memory_total else mem_value / memory_total
            cpu_text = f"{_bar(cpu_frac, bar_w)} {cpu_text}"
            mem_text = f"{_bar(mem_frac, bar_w)} {mem_text}"
        head = f"{fit(label, name_w).ljust(name_w)} "
        plain = f"{head}{status.ljust(status_w)} {count.rjust(restart_w)} {cpu_text} {mem_text}"
        plain = fit(plain.rstrip(), width)
        if color and status in STATUS_STYLE and plain.startswith(head + status):
            rest = plain[len(head) + len(status) :]
            plain = head + style(status, STATUS_STYLE[status], color) + rest
        result.append((plain, None))
    if hidden:
        result.append((fit(f"… and {hidden} more (widen or heighten the terminal)", width), None))
    return result
