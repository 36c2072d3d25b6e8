"""Output of real children through the supervisor into rotating log files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from supervisor_core import Supervisor
from supervisor_core.config import LogSpec, RestartPolicy
from supervisor_core.logs import rotated_files
from tests.helpers import python_app

pytestmark = pytest.mark.anyio


def read_all(path: Path) -> list[bytes]:
    """Every line of a log and its rotated files, oldest first."""
    lines: list[bytes] = []
    for part in [*rotated_files(path), path]:
        lines.extend(part.read_bytes().splitlines())
    return lines


async def test_200k_lines_through_rotation_none_lost_duplicated_or_split(tmp_path: Path) -> None:
    code = """
        import sys
        out = sys.stdout
        for i in range(200_000):
            out.write(f"line {i:06d} " + "x" * (i % 50) + "\\n")
            if i % 1000 == 0:
                sys.stderr.write(f"err {i}\\n")
    """
    logs = LogSpec(
        out_file=tmp_path / "logs" / "chatty-out.log",
        error_file=tmp_path / "logs" / "chatty-error.log",
        date_format=None,
        max_size=256 * 1024,
        max_files=1000,
    )
    spec = python_app(tmp_path, "chatty", code, logs=logs, restart=RestartPolicy(autorestart=False))
    async with Supervisor() as sup:
        await sup.add(spec)
        await sup.wait_until(lambda infos: infos[0].status == "stopped", timeout=60)
    out = read_all(logs.out_file)
    assert len(rotated_files(logs.out_file)) > 10
    expected = [f"line {i:06d} ".encode() + b"x" * (i % 50) for i in range(200_000)]
    assert out == expected
    assert read_all(logs.error_file) == [f"err {i}".encode() for i in range(0, 200_000, 1000)]


async def test_lines_are_timestamped_with_the_date_format(tmp_path: Path) -> None:
    from supervisor_core.config import compile_date_format

    logs = LogSpec(
        out_file=tmp_path / "ts-out.log",
        error_file=tmp_path / "ts-error.log",
        date_format=compile_date_format("YYYY-MM-DD HH:mm:ss"),
    )
    spec = python_app(
        tmp_path, "ts", "print('hello')", logs=logs, restart=RestartPolicy(autorestart=False)
    )
    before = time.time()
    async with Supervisor() as sup:
        await sup.add(spec)
        await sup.wait_until(lambda infos: infos[0].status == "stopped", timeout=10)
    (line,) = logs.out_file.read_bytes().splitlines()
    stamp, text = line.decode().split(" ", 2)[:2], line.decode().split(" ", 2)[2]
    assert text == "hello"
    parsed = time.mktime(time.strptime(" ".join(stamp), "%Y-%m-%d %H:%M:%S"))
    assert before - 1 <= parsed <= time.time() + 1
