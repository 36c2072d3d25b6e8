"""sd_notify: READY=1 reaches $NOTIFY_SOCKET (path or abstract); nothing without it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from point_tron.sdnotify import sd_notify


def test_sends_to_a_path_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert sd_notify("READY=1\nSTATUS=up", environ={"NOTIFY_SOCKET": str(path)})
        assert server.recv(100) == b"READY=1\nSTATUS=up"


def test_sends_to_an_abstract_socket() -> None:
    name = f"ptm-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert sd_notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert server.recv(100) == b"READY=1"


def test_without_the_variable_or_a_listener_nothing_happens(tmp_path: Path) -> None:
    assert not sd_notify("READY=1", environ={})
    assert not sd_notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "none")})
