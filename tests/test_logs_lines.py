"""LineSplitter and pump_lines: whole lines out of arbitrary chunks, bounded memory."""

from __future__ import annotations

import random
import sys

import anyio
import anyio.abc
import pytest

from supervisor_core.logs import CONTINUATION_MARKER, LineSplitter, pump_lines


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _reassemble(parts: list[bytes]) -> list[bytes]:
    """Join the marked parts of long lines back into the lines."""
    lines: list[bytes] = []
    pending = b""
    for part in parts:
        if part.endswith(CONTINUATION_MARKER):
            pending += part[: -len(CONTINUATION_MARKER)]
        else:
            lines.append(pending + part)
            pending = b""
    assert pending == b"", "a line ended on a continuation part"
    return lines


def _corpus(rng: random.Random, max_line: int) -> tuple[bytes, list[bytes]]:
    """Random output of a child, and the lines it holds (\\r\\n counted as \\n)."""
    words = [b"", b"a", b"hello world", "é€😀".encode(), b"\tx\ty", b"bare\rcr"]
    chunks: list[bytes] = []
    expected: list[bytes] = []
    for _ in range(400):
        kind = rng.random()
        if kind < 0.1:
            line = rng.choice("ab€😀é").encode() * rng.randint(max_line - 5, 4 * max_line)
        elif kind < 0.15:
            line = "€".encode() * rng.randint(max_line // 3 - 2, 2 * max_line)
        else:
            line = b" ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        end = b"\r\n" if rng.random() < 0.3 else b"\n"
        chunks.append(line + end)
        expected.append(line)
    chunks.append(b"last words without newline")
    expected.append(b"last words without newline")
    return b"".join(chunks), expected


def _feed_split(data: bytes, cuts: list[int], max_line: int) -> tuple[list[bytes], int]:
    splitter = LineSplitter(max_line)
    out: list[bytes] = []
    most_held = 0
    start = 0
    for cut in [*cuts, len(data)]:
        out.extend(splitter.feed(data[start:cut]))
        most_held = max(most_held, splitter.buffered)
        start = cut
    out.extend(splitter.flush())
    return out, most_held


@pytest.mark.parametrize("seed", range(12))
def test_chunk_boundaries_anywhere_give_the_same_lines(seed: int) -> None:
    rng = random.Random(seed)
    max_line = rng.choice([16, 17, 64, 1000])
    data, expected = _corpus(rng, max_line)
    whole, _ = _feed_split(data, [], max_line)
    assert _reassemble(whole) == expected
    for _ in range(5):
        n_cuts = rng.choice([1, 10, 300, len(data) // 3])
        cuts = sorted(rng.randrange(len(data) + 1) for _ in range(n_cuts))
        parts, most_held = _feed_split(data, cuts, max_line)
        assert parts == whole
        assert most_held <= max_line + 1
        limit = max_line + len(CONTINUATION_MARKER)
        assert all(len(p) <= limit for p in parts)


def test_every_byte_as_its_own_chunk() -> None:
    data = b"one\r\ntwo\n\nthree\r\r\nfour"
    splitter = LineSplitter(16)
    out: list[bytes] = []
    for i in range(len(data)):
        out.extend(splitter.feed(data[i : i + 1]))
    out.extend(splitter.flush())
    assert out == [b"one", b"two", b"", b"three\r", b"four"]


def test_crlf_split_across_chunks() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"abc\r") == []
    assert splitter.feed(b"\nxyz\r\n") == [b"abc", b"xyz"]
    assert splitter.flush() == []


def test_bare_cr_inside_a_line_is_kept() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"progress 10%\rprogress 20%\n") == [b"progress 10%\rprogress 20%"]


def test_long_line_is_emitted_in_marked_parts() -> None:
    splitter = LineSplitter(16)
    line = bytes(range(97, 97 + 20)) * 2  # 40 bytes
    parts = splitter.feed(line + b"\nshort\n")
    assert parts == [
        line[:16] + CONTINUATION_MARKER,
        line[16:32] + CONTINUATION_MARKER,
        line[32:],
        b"short",
    ]


def test_a_line_of_exactly_max_line_is_not_marked() -> None:
    splitter = LineSplitter(16)
    assert splitter.feed(b"x" * 16 + b"\n") == [b"x" * 16]
    assert splitter.feed(b"y" * 16) == []
    assert splitter.feed(b"\r\n") == [b"y" * 16]


def test_utf8_characters_are_not_cut_between_parts() -> None:
    splitter = LineSplitter(17)
    text = "€" * 40  # 3 bytes each: 17 is not a multiple of 3
    parts = splitter.feed(text.encode() + b"\n")
    assert len(parts) > 1
    decoded = [p.removesuffix(CONTINUATION_MARKER).decode() for p in parts]
    assert "".join(decoded) == text


def test_ten_megabyte_line_without_newline_keeps_memory_bounded() -> None:
    max_line = 65536
    splitter = LineSplitter(max_line)
    chunk = b"z" * 65000
    total = 10 * 1024 * 1024
    fed = 0
    parts: list[bytes] = []
    while fed < total:
        parts.extend(splitter.feed(chunk))
        fed += len(chunk)
        assert splitter.buffered <= max_line
    parts.extend(splitter.flush())
    assert all(p.endswith(CONTINUATION_MARKER) for p in parts[:-1])
    assert not parts[-1].endswith(CONTINUATION_MARKER)
    assert _reassemble(parts) == [b"z" * fed]
    assert max(len(p) for p in parts) == max_line + len(CONTINUATION_MARKER)


def test_flush_at_eof() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\nb") == [b"a"]
    assert splitter.flush() == [b"b"]
    assert splitter.flush() == []
    assert splitter.feed(b"c\r") == []
    assert splitter.flush() == [b"c"]
    assert LineSplitter().flush() == []


def test_empty_lines_are_lines() -> None:
    assert LineSplitter().feed(b"\n\r\n\n") == [b"", b"", b""]


def test_too_small_max_line_is_refused() -> None:
    with pytest.raises(ValueError, match="max_line"):
        LineSplitter(4)


class _Chunks(anyio.abc.ByteReceiveStream):
    """A byte stream handing out given chunks, then ending with ``end``."""

    def __init__(self, chunks: list[bytes], end: type[Exception]) -> None:
        self._chunks = list(chunks)
        self._end = end

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._chunks:
            raise self._end
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
@pytest.mark.parametrize(
    "end", [anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError]
)
async def test_pump_calls_back_once_per_chunk_with_lines(end: type[Exception]) -> None:
    calls: list[list[bytes]] = []
    stream = _Chunks([b"a\nb", b"c", b"\nd\ne\n", b"tail"], end)
    await pump_lines(stream, calls.append)
    assert calls == [[b"a"], [b"bc", b"d", b"e"], [b"tail"]]


@pytest.mark.anyio
async def test_pump_marks_long_lines() -> None:
    calls: list[list[bytes]] = []
    await pump_lines(_Chunks([b"x" * 40 + b"\n"], anyio.EndOfStream), calls.append, max_line=16)
    assert calls == [[b"x" * 16 + CONTINUATION_MARKER, b"x" * 16 + CONTINUATION_MARKER, b"x" * 8]]


CHILD = r"""
import sys, os
out = sys.stdout.buffer
for i in range(5000):
    out.write(b"line %d\n" % i)
out.flush()
# one line delivered in three separate writes
for piece in (b"split ", b"in ", b"three\r\n"):
    os.write(1, piece)
os.write(2, b"to stderr\n")
os.write(1, b"x" * 100000 + b"\n")
os.write(1, b"final line without newline")
"""


@pytest.mark.anyio
async def test_pump_lines_from_a_real_child_pipe() -> None:
    out: list[bytes] = []
    err: list[bytes] = []
    async with await anyio.open_process([sys.executable, "-c", CHILD]) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump_lines, proc.stdout, out.extend)
                tg.start_soon(pump_lines, proc.stderr, err.extend)
            assert await proc.wait() == 0
    expected = [b"line %d" % i for i in range(5000)]
    expected += [b"split in three", b"x" * 100000, b"final line without newline"]
    assert _reassemble(out) == expected
    assert err == [b"to stderr"]
