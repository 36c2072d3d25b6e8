"""Read a child's pipe until it closes, handing whole lines to a callback."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.abc

from supervisor_core.logs._lines import DEFAULT_MAX_LINE, LineSplitter

__all__ = ["pump_lines"]

READ_SIZE = 65536


async def pump_lines(
    stream: anyio.abc.ByteReceiveStream,
    on_lines: Callable[[list[bytes]], None],
    *,
    max_line: int = DEFAULT_MAX_LINE,
    splitter: LineSplitter | None = None,
) -> None:
    """Read ``stream`` to its end; call ``on_lines`` once per chunk that completed lines.

    At end of stream (``EndOfStream``, or the stream closed or broken under us) the last,
    unterminated line is delivered too. ``on_lines`` is never called with an empty list.
    With ``splitter`` (the caller's, to read its unterminated line when the pump is
    cancelled), ``max_line`` is the splitter's.
    """
    if splitter is None:
        splitter = LineSplitter(max_line)
    feed = splitter.feed
    while True:
        try:
            data = await stream.receive(READ_SIZE)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            break
        lines = feed(data)
        if lines:
            on_lines(lines)
    rest = splitter.flush()
    if rest:
        on_lines(rest)
