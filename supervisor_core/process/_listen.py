"""The listening sockets that ptm binds once and shares between instances (cluster mode)."""

from __future__ import annotations

import socket

from supervisor_core.config import ListenSpec
from supervisor_core.errors import ProcessError

__all__ = ["bind_listen_socket"]


def bind_listen_socket(spec: ListenSpec, *, backlog: int = 1024) -> socket.socket:
    """Bind and listen on ``host:port`` (TCP, SO_REUSEADDR). Connections that arrive while no
    instance accepts (between a restart's stop and start) wait in the backlog: none is
    refused."""
    try:
        infos = socket.getaddrinfo(
            spec.host, spec.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ProcessError(f"cannot resolve listen host {spec.host!r}: {exc}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ProcessError(
            f"cannot listen on {spec.host}:{spec.port}: {exc.strerror or exc}"
        ) from None
    return sock
