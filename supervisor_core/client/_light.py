"""One GET over the daemon's socket, with the standard library only.

``ptm jlist``, ``list``, ``pid`` and ``ping`` each ask one GET. Importing httpx (with
httpcore, h11 and what they import) takes about 45 ms before anything is sent, and even the
standard library's ``http.client`` about 15 ms (its email parser and ssl), against a command
that takes well under 100 ms in all. So simple GETs speak the little HTTP/1.1 they need
themselves: one request with ``Connection: close``, and an answer whose body is framed by
``Content-Length``, by the ``chunked`` transfer coding, or by the end of the connection
(RFC 9112, section 6.3), which covers whatever uvicorn sends.

:func:`get` raises :class:`ConnectFailed` when the connect fails (so that the caller can tell
"no daemon" from a daemon that failed while answering), ``TimeoutError`` when the daemon is
silent for longer than the timeout, :class:`BadAnswer` when what comes back is not an HTTP/1.x
answer or ends early, and ``OSError`` when the connection breaks. ``_failures.py`` says what
each means for the caller, the same way as for a call carried by httpx.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import BinaryIO, NamedTuple

__all__ = ["Answer", "BadAnswer", "ConnectFailed", "get"]

_MAX_LINE = 65536
"""The longest status, header or chunk-size line accepted (as ``http.client``)."""
_MAX_HEADERS = 100
_HEX = frozenset(b"0123456789abcdefABCDEF")


class Answer(NamedTuple):
    """The status and the whole body of an answer."""

    status: int
    body: bytes


class ConnectFailed(Exception):
    """The connect to the socket failed; ``error`` is the ``OSError`` it raised."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class BadAnswer(Exception):
    """What came back is not an HTTP/1.x answer, or it ended before its end."""


def get(path: Path, target: str, timeout: float) -> Answer:
    """``GET target`` (path and query, already quoted) on the Unix socket ``path``.

    ``timeout`` bounds the connect and each wait for the daemon's next bytes, as httpx's
    timeout does.
    """
    request = (
        f"GET {target} HTTP/1.1\r\nHost: ptm\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise ConnectFailed(exc) from exc
        sock.sendall(request)
        with sock.makefile("rb") as reader:
            return read_answer(reader)


def read_answer(reader: BinaryIO) -> Answer:
    """Read one answer (status line, headers, body) from ``reader``."""
    status = _status(_line(reader, "the daemon closed the connection without answering"))
    headers = _headers(reader)
    while 100 <= status < 200:  # an interim answer ("100 Continue"): the real one follows
        status = _status(_line(reader, "the answer ended after an interim status"))
        headers = _headers(reader)
    if status in (204, 304):
        return Answer(status, b"")
    coding = headers.get("transfer-encoding", "").lower()
    if coding.rsplit(",", 1)[-1].strip() == "chunked":
        return Answer(status, _chunked(reader))
    if coding:  # another coding last: the body ends with the connection
        return Answer(status, reader.read())
    length = headers.get("content-length")
    if length is None:
        return Answer(status, reader.read())
    if not length.isdigit():
        raise BadAnswer(f"the answer has an invalid Content-Length: {length!r}")
    return Answer(status, _exactly(reader, int(length)))


def _line(reader: BinaryIO, at_end: str) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if not line:
        raise BadAnswer(at_end)
    if len(line) > _MAX_LINE:
        raise BadAnswer(f"the answer has a line longer than {_MAX_LINE} bytes")
    return line


def _status(line: bytes) -> int:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"the answer does not start with an HTTP/1 status line: {line[:80]!r}")
    status = int(parts[1])
    if not 100 <= status <= 999:
        raise BadAnswer(f"the answer has an invalid status: {status}")
    return status


def _headers(reader: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = _line(reader, "the answer ended in its headers")
        if line in (b"\r\n", b"\n"):
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise BadAnswer(f"the answer has an invalid header line: {line[:80]!r}")
        headers[name.lower()] = value.strip()
    raise BadAnswer(f"the answer has more than {_MAX_HEADERS} headers")


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise BadAnswer(f"the answer ended after {len(data)} of its {size} bytes")
    return data


def _chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        line = _line(reader, "the answer ended before its last chunk")
        size = line.split(b";", 1)[0].strip()
        if not size or not _HEX.issuperset(size):
            raise BadAnswer(f"the answer has an invalid chunk size: {line[:80]!r}")
        if int(size, 16) == 0:
            break
        parts.append(_exactly(reader, int(size, 16)))
        if _line(reader, "the answer ended inside a chunk") not in (b"\r\n", b"\n"):
            raise BadAnswer("a chunk of the answer is longer than its size")
    _headers(reader)  # trailer fields, if any, then the empty line that ends the answer
    return b"".join(parts)
