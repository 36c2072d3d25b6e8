"""The pipes of a run, read by ptm itself, and processes adopted after ``ptm update``.

Each run's stdout and stderr are pipes whose read ends ptm owns (not asyncio's subprocess
transport), so that an update can stop reading at a known point and hand the very same
descriptors to the next daemon image: :meth:`PipeReader.detach` stops reading between two
``read`` calls, so no byte read is left anywhere but in the caller's line buffer. A
process the new image finds running (:class:`AdoptedProcess`) is still its child (``execve``
keeps the pid): it is awaited through a pidfd and reaped with ``waitid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream

__all__ = ["AdoptedProcess", "PipeReader", "PipedProcess", "open_pipe"]


def open_pipe() -> tuple[int, int]:
    """A pipe (read end, write end), both close-on-exec; the read end non-blocking."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(read_fd, False)
    return read_fd, write_fd


class PipeReader(ByteReceiveStream):
    """Reads a non-blocking pipe's read end with the event loop."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._detached = False
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while True:
            if self._closed:
                raise anyio.ClosedResourceError
            if self._detached:
                await anyio.sleep_forever()
            try:
                data = os.read(self.fd, max_bytes)
            except BlockingIOError:
                await self._readable()
                continue
            except OSError as exc:
                self._close()
                raise anyio.BrokenResourceError from exc
            if not data:
                self._close()
                raise anyio.EndOfStream
            return data

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(self.fd)

    @property
    def closed(self) -> bool:
        """The pipe reached its end (or was closed): nothing more to read or hand over."""
        return self._closed

    def detach(self) -> int:
        """Read no more (a waiting ``receive`` never returns); the descriptor stays open."""
        self._detached = True
        return self.fd

    def _close(self) -> None:
        if not self._closed and not self._detached:
            self._closed = True
            os.close(self.fd)

    async def aclose(self) -> None:
        self._close()


class PipedProcess:
    """A spawned child (anyio's process) with ptm's own readers on its pipes."""

    def __init__(self, proc: Any, stdout: PipeReader, stderr: PipeReader) -> None:
        self._proc = proc
        self.stdout: PipeReader | None = stdout
        self.stderr: PipeReader | None = stderr

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    @property
    def returncode(self) -> int | None:
        code = self._proc.returncode
        return None if code is None else int(code)

    async def wait(self) -> int:
        return int(await self._proc.wait())


class AdoptedProcess:
    """A child the previous image of this daemon started: awaited through a pidfd.

    Raises ``ProcessLookupError`` when ``pid`` is not (or no longer) a child of ours.
    """

    def __init__(self, pid: int, stdout: PipeReader | None, stderr: PipeReader | None) -> None:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # ChildProcessError
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self._pidfd = os.pidfd_open(pid)
        self._code: int | None = None
        self._done = anyio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._pidfd, self._reap)

    @property
    def returncode(self) -> int | None:
        return self._code

    def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            info = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            info = None
            self._code = 255
        if info is None and self._code is None:
            return  # not yet (a spurious wake)
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        if info is not None:
            exited = info.si_code == os.CLD_EXITED
            self._code = info.si_status if exited else -info.si_status
        self._done.set()

    async def wait(self) -> int:
        await self._done.wait()
        assert self._code is not None
        return self._code
