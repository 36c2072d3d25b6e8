"""What a Supervisor holds besides its instances: the shared listening sockets of
cluster-mode apps, the routing of sd_notify datagrams to the instance that sent them, and
the fan-out of state changes to subscribers."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from supervisor_core._info import StateEvent
from supervisor_core.config import AppSpec, ListenSpec
from supervisor_core.errors import StateError
from supervisor_core.process import Status, bind_listen_socket, descendant_pids

if TYPE_CHECKING:
    from supervisor_core._instance import Instance

__all__ = [
    "MAX_UNCLAIMED_NOTIFY",
    "Broadcast",
    "ListenSockets",
    "NotifyRouter",
    "each",
    "wait_settled",
    "wait_stable",
]

MAX_UNCLAIMED_NOTIFY = 256
T = TypeVar("T")


class ListenSockets:
    """One bound socket per cluster-mode app with ``listen``, by app name."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[ListenSpec, socket.socket]] = {}

    def __getitem__(self, name: str) -> tuple[ListenSpec, socket.socket]:
        return self._held[name]

    def __contains__(self, name: object) -> bool:
        return name in self._held

    def bind(self, spec: AppSpec) -> None:
        """Bind the app's shared socket (cluster mode) once; kept across a replace with the
        same address, so that restarting with new settings never drops a connection."""
        held = self._held.get(spec.name)
        if spec.exec_mode != "cluster" or spec.listen is None:
            if held is not None:
                self.close(spec.name)
            return
        if held is not None and held[0] == spec.listen:
            return
        sock = bind_listen_socket(spec.listen)  # may fail: the old socket is kept then
        if held is not None:
            held[1].close()
        self._held[spec.name] = (spec.listen, sock)

    def adopt(self, spec: AppSpec, fd: int) -> None:
        """Take up the socket the previous daemon image bound for ``spec`` (``ptm update``)."""
        if spec.exec_mode == "cluster" and spec.listen is not None and spec.name not in self._held:
            sock = socket.socket(fileno=fd)
            os.set_inheritable(fd, False)
            self._held[spec.name] = (spec.listen, sock)
        else:
            os.close(fd)

    def inheritable(self) -> dict[str, int]:
        """Every socket's descriptor, made inheritable across ``execve``."""
        for _spec, sock in self._held.values():
            sock.set_inheritable(True)
        return {name: held[1].fileno() for name, held in self._held.items()}

    def fd(self, name: str) -> int | None:
        held = self._held.get(name)
        return held[1].fileno() if held is not None else None

    def close(self, name: str) -> None:
        held = self._held.pop(name, None)
        if held is not None:
            held[1].close()

    def close_all(self) -> None:
        for _spec, sock in self._held.values():
            sock.close()
        self._held.clear()


class Notified(Protocol):
    def notify(self, pid: int, fields: dict[str, str]) -> bool: ...


class NotifyRouter:
    """Hands each sd_notify datagram to the instance whose process (or descendant) sent it;
    keeps, for a while, those that arrive before their sender's spawn has returned."""

    def __init__(self, instances: Callable[[], Iterable[Notified]]) -> None:
        self._instances = instances
        self._unclaimed: dict[int, dict[str, str]] = {}

    def on_notify(self, pid: int, fields: dict[str, str]) -> None:
        for inst in self._instances():
            if inst.notify(pid, fields):
                return
        # Not ours yet: a process can say READY=1 before its spawn has returned to us.
        self._unclaimed[pid] = {**self._unclaimed.get(pid, {}), **fields}
        while len(self._unclaimed) > MAX_UNCLAIMED_NOTIFY:
            del self._unclaimed[next(iter(self._unclaimed))]

    def claim(self, pid: int) -> list[tuple[int, dict[str, str]]]:
        """The notifications that arrived for ``pid`` (or its children) before it was known."""
        if not self._unclaimed:
            return []
        family = {pid, *descendant_pids(pid)}
        return [(p, self._unclaimed.pop(p)) for p in list(self._unclaimed) if p in family]


class Broadcast:
    """Every state change to every subscriber; a subscriber that falls behind loses the
    newest events (counted in ``dropped``), and supervision never waits for it."""

    def __init__(self) -> None:
        self._subscribers: set[MemoryObjectSendStream[StateEvent]] = set()
        self.dropped = 0

    @asynccontextmanager
    async def subscribe(
        self, max_buffer: int
    ) -> AsyncIterator[MemoryObjectReceiveStream[StateEvent]]:
        send, receive = anyio.create_memory_object_stream[StateEvent](max_buffer)
        self._subscribers.add(send)
        try:
            yield receive
        finally:
            self._subscribers.discard(send)
            send.close()
            receive.close()

    def publish(self, event: StateEvent) -> None:
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                self.dropped += 1
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._subscribers.discard(send)

    def close(self) -> None:
        for send in list(self._subscribers):
            send.close()


async def each(items: Sequence[T], action: Callable[[T], Awaitable[None]]) -> None:
    """Run ``action`` on every item at once; the first error is raised after all have
    finished."""
    errors: list[BaseException] = []

    async def one(item: T) -> None:
        try:
            await action(item)
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(one, item)
    if errors:
        raise errors[0]


async def wait_stable(events: Broadcast, inst: Instance, seconds: float) -> None:
    """Without readiness, a new process must stay online ``min_uptime`` before the next
    instance is replaced: a bad deploy stops the rolling reload at its first victim."""
    with anyio.move_on_after(seconds):
        async with events.subscribe(1000) as changes:
            while inst.status is Status.ONLINE:
                await changes.receive()
    if inst.status is not Status.ONLINE:
        raise StateError(
            f"reload of {inst.spec.name}:{inst.index}: the new process did not stay up "
            f"({inst.status.value}); the next instances were left alone"
        )


async def wait_settled(events: Broadcast, inst: Instance) -> None:
    """Wait until an instance is no longer starting (online, or failed)."""
    async with events.subscribe(1000) as changes:
        while inst.status in (Status.LAUNCHING, Status.STOPPING):
            await changes.receive()
    if inst.status is not Status.ONLINE:
        raise StateError(
            f"reload of {inst.spec.name}:{inst.index}: it is {inst.status.value} "
            "after its restart; the next instances were left alone"
        )
