"""ptm's own pipe readers and adopted children: what ``ptm update`` relies on."""

from __future__ import annotations

import functools
import os
import signal
import sys

import anyio
import pytest

from supervisor_core.logs import LineSplitter, pump_lines
from supervisor_core.process import AdoptedProcess, PipeReader
from supervisor_core.process._pipes import open_pipe

pytestmark = pytest.mark.anyio


def spawn_python(code: str) -> int:
    """A child of this process, which nothing but the test waits for."""
    return os.posix_spawn(sys.executable, [sys.executable, "-c", code], dict(os.environ))


async def test_a_reader_reads_to_the_end_and_closes_its_descriptor() -> None:
    read_fd, write_fd = open_pipe()
    reader = PipeReader(read_fd)
    os.write(write_fd, b"one\ntw")
    os.write(write_fd, b"o\n")
    os.close(write_fd)
    lines: list[bytes] = []
    await pump_lines(reader, lines.extend)
    assert lines == [b"one", b"two"]
    assert reader.closed
    with pytest.raises(OSError):
        os.fstat(read_fd)


async def test_detach_stops_between_reads_and_hands_over_the_unterminated_line() -> None:
    read_fd, write_fd = open_pipe()
    reader = PipeReader(read_fd)
    splitter = LineSplitter()
    lines: list[bytes] = []
    got = anyio.Event()

    def on_lines(batch: list[bytes]) -> None:
        lines.extend(batch)
        got.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(pump_lines, reader, on_lines, splitter=splitter))
        os.write(write_fd, b"whole\nhalf of a ")
        with anyio.fail_after(10):
            await got.wait()
        assert reader.detach() == read_fd
        os.write(write_fd, b"line\nnext\n")  # written after: for whoever takes the pipe next
        await anyio.sleep(0.1)
        tg.cancel_scope.cancel()
    assert lines == [b"whole"]
    assert splitter.pending == b"half of a "
    os.close(write_fd)
    # The next reader (the new image) continues where this one stopped.
    os.set_blocking(read_fd, True)
    rest = b""
    while chunk := os.read(read_fd, 100):
        rest += chunk
    os.close(read_fd)
    after = LineSplitter(pending=splitter.pending)
    assert after.feed(rest) == [b"half of a line", b"next"]


async def test_an_adopted_child_is_awaited_and_reaped_with_its_exit_code() -> None:
    pid = spawn_python("import sys; sys.exit(3)")
    proc = AdoptedProcess(pid, None, None)
    with anyio.fail_after(20):
        assert await proc.wait() == 3
    assert proc.returncode == 3
    with pytest.raises(ChildProcessError):  # reaped: nothing left for anyone
        os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: never blocks)


async def test_an_adopted_child_killed_by_a_signal_and_a_zombie() -> None:
    pid = spawn_python("import time; time.sleep(60)")
    proc = AdoptedProcess(pid, None, None)
    os.kill(pid, signal.SIGKILL)
    with anyio.fail_after(20):
        assert await proc.wait() == -signal.SIGKILL
    zombie = spawn_python("pass")  # ends before it is adopted: still ours to reap
    os.waitid(os.P_PID, zombie, os.WEXITED | os.WNOWAIT)  # noqa: ASYNC222 (it ends at once)
    adopted = AdoptedProcess(zombie, None, None)
    with anyio.fail_after(20):
        assert await adopted.wait() == 0


async def test_a_process_that_is_not_our_child_cannot_be_adopted() -> None:
    with pytest.raises(ChildProcessError):
        AdoptedProcess(os.getppid(), None, None)
