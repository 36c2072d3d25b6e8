"""tail_lines: the last lines of a file, read backwards."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from supervisor_core.errors import LogError
from supervisor_core.logs import _tail, tail_lines


@pytest.mark.parametrize(
    ("content", "n", "expected"),
    [
        (b"a\nb\nc\n", 2, [b"b", b"c"]),
        (b"a\nb\nc", 2, [b"b", b"c"]),
        (b"a\nb\nc\n", 10, [b"a", b"b", b"c"]),
        (b"a\nb\nc", 10, [b"a", b"b", b"c"]),
        (b"only", 1, [b"only"]),
        (b"\n", 5, [b""]),
        (b"\n\n", 5, [b"", b""]),
        (b"a\n\nb\n", 2, [b"", b"b"]),
        (b"", 5, []),
        (b"a\nb\n", 0, []),
    ],
)
def test_small_files(tmp_path: Path, content: bytes, n: int, expected: list[bytes]) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(content)
    assert tail_lines(path, n) == expected


@pytest.mark.parametrize("final_newline", [True, False])
def test_big_file_matches_splitlines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, final_newline: bool
) -> None:
    monkeypatch.setattr(_tail, "BLOCK", 1000)  # many blocks; lines cross block edges
    rng = random.Random(5)
    lines = [
        b"line %d " % i + b"y" * rng.choice([0, 5, 50, 999, 1000, 1001, 3000]) for i in range(3000)
    ]
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    path = tmp_path / "big.log"
    path.write_bytes(data)
    for n in (1, 2, 7, 100, 2999, 3000, 5000):
        assert tail_lines(path, n) == lines[-n:]


def test_big_file_reads_only_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.log"
    with path.open("wb") as f:
        f.write(b"x" * 100 + b"\n")
        f.seek(50 * 1024 * 1024)  # a sparse 50 MB file
        f.write(b"\nlast one\nlast two\n")
    reads: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, size: int, offset: int) -> bytes:
        reads.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr("supervisor_core.logs._tail.os.pread", counting_pread)
    assert tail_lines(path, 2) == [b"last one", b"last two"]
    assert sum(reads) <= _tail.BLOCK


def test_missing_file_has_no_lines(tmp_path: Path) -> None:
    assert tail_lines(tmp_path / "nope.log", 10) == []


def test_unreadable_file_raises_log_error(tmp_path: Path) -> None:
    folder = tmp_path / "dir.log"
    folder.mkdir()
    with pytest.raises(LogError, match=r"dir\.log: cannot read"):
        tail_lines(folder, 3)
