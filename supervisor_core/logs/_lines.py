"""Bytes from a pipe into whole lines, with bounded memory.

A child writes whatever it likes in chunks of whatever size the pipe hands over; this module
turns that into lines: never cut in two by a chunk boundary, never merged with the next one.
A ``\\r\\n`` ending counts as ``\\n``. A line longer than ``max_line`` bytes is emitted as
several parts; every part but the last ends with :data:`CONTINUATION_MARKER`, so a reader (or
``grep``) can tell that the next line in the file is the rest of it. The splitter never holds
more than ``max_line`` bytes (plus a ``\\r``) between calls, whatever the child writes.
"""

from __future__ import annotations

__all__ = ["CONTINUATION_MARKER", "DEFAULT_MAX_LINE", "LineSplitter"]

DEFAULT_MAX_LINE = 65536
CONTINUATION_MARKER = b" [ptm: line continues]"
"""Appended to every part of an over-long line except its last."""

_CR = b"\r"
_LF = b"\n"


def _cut_point(buf: bytes, start: int, limit: int) -> int:
    """Where to end a part of at most ``limit`` bytes that begins at ``start``.

    Backs off (by at most 3 bytes) so that a UTF-8 character is not split between two parts.
    """
    cut = start + limit
    lowest = cut - 3
    while cut > lowest and cut > start + 1 and (buf[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def _may_hold_a_long_line(data: bytes, last_newline: int, limit: int) -> bool:
    """Whether ``data[:last_newline]`` may hold a line longer than ``limit``.

    Hops from newline to newline in windows of ``limit`` bytes (a few C-level ``rfind`` calls
    per chunk instead of a length check per line). Counts a ``\\r`` as part of the line, so
    it may say yes for a line that is ``limit`` long once its ``\\r`` is gone; never says no
    wrongly.
    """
    pos = 0
    while last_newline - pos > limit:
        newline = data.rfind(_LF, pos, pos + limit + 1)
        if newline < 0:
            return True
        pos = newline + 1
    return False


class LineSplitter:
    """Feed it chunks, get back complete lines (without their ``\\n``)."""

    __slots__ = ("_buf", "_max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, *, pending: bytes = b"") -> None:
        if max_line < 16:
            raise ValueError(f"max_line must be at least 16 bytes (got {max_line})")
        self._max_line = max_line
        self._buf = pending

    @property
    def pending(self) -> bytes:
        """The unterminated line held now (what a new splitter continues with ``pending``)."""
        return self._buf

    @property
    def max_line(self) -> int:
        return self._max_line

    @property
    def buffered(self) -> int:
        """Bytes of an unterminated line held (at most ``max_line``, plus one for a ``\\r``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add a chunk; return the lines it completed (possibly none)."""
        if self._buf:
            data = self._buf + data
        lines = data.split(_LF)
        rest = lines.pop()
        if lines:
            if _CR in data:
                lines = [line[:-1] if line.endswith(_CR) else line for line in lines]
            last_newline = len(data) - len(rest) - 1
            if last_newline > self._max_line and _may_hold_a_long_line(
                data, last_newline, self._max_line
            ):
                lines = self._split_long(lines)
        if len(rest) > self._max_line:
            rest = self._emit_parts(rest, lines, hold_cr=True)
        self._buf = rest
        return lines

    def flush(self) -> list[bytes]:
        """At end of stream: the unterminated last line, if any (its ``\\r`` dropped)."""
        rest, self._buf = self._buf, b""
        if rest.endswith(_CR):
            rest = rest[:-1]
        return [rest] if rest else []

    def _split_long(self, lines: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        limit = self._max_line
        for line in lines:
            if len(line) <= limit:
                out.append(line)
            else:
                out.append(self._emit_parts(line, out))
        return out

    def _emit_parts(self, line: bytes, out: list[bytes], *, hold_cr: bool = False) -> bytes:
        """Append marked parts of ``line`` to ``out``; return what is left (≤ ``max_line``).

        With ``hold_cr`` (an unterminated rest), a trailing ``\\r`` (maybe the first half of
        ``\\r\\n``) is left over, never put inside a part: the cuts are then the same whatever
        the chunking.
        """
        limit = self._max_line
        start = 0
        end = len(line) - 1 if hold_cr and line.endswith(_CR) else len(line)
        while end - start > limit:
            cut = _cut_point(line, start, limit)
            out.append(line[start:cut] + CONTINUATION_MARKER)
            start = cut
        return line[start:]
