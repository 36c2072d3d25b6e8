"""Out of file descriptors: the daemon degrades (apps it cannot start wait and retry, one
request fails), but never dies, never wedges, never floods its log, and stops cleanly.

The daemon runs under ``RLIMIT_NOFILE`` 256 (soft and hard, as ``ulimit -n 256``), with 120
apps (each needs three descriptors in the daemon: two pipes and a pidfd, plus its log files)
and 300 idle connections on its socket.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import time
from collections.abc import Iterator

import psutil

from tests.e2e.conftest import PTM, Ptm

LIMIT = 256


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@contextlib.contextmanager
def idle_connections(path: str, count: int) -> Iterator[int]:
    """``count`` connections that never send a byte (refused ones count as made)."""
    conns: list[socket.socket] = []
    try:
        for _ in range(count):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(2)
            try:
                conn.connect(path)
            except OSError:
                conn.close()
                continue
            conns.append(conn)
        yield len(conns)
    finally:
        for conn in conns:
            conn.close()


def test_a_daemon_out_of_descriptors_stays_up_answers_and_stops_cleanly(ptm: Ptm) -> None:
    tables = [
        f'[[apps]]\nname = "s{n:03d}"\ncommand = ["sleep", "1000"]\nkill_timeout = "2s"\n'
        for n in range(120)
    ]
    ptm.write("many.toml", "\n".join(tables))
    started = subprocess.run(
        [*PTM, "start", "many.toml"],
        cwd=ptm.cwd,
        env=dict(os.environ),
        preexec_fn=limited,
        capture_output=True,
        text=True,
        timeout=120,
    )
    daemon = ptm.daemon_pid()
    assert daemon is not None, started
    assert psutil.Process(daemon).rlimit(psutil.RLIMIT_NOFILE) == (LIMIT, LIMIT)
    with idle_connections(str(ptm.home / "ptm.sock"), 300):
        deadline = time.monotonic() + 8  # the sampler runs every second meanwhile
        while time.monotonic() < deadline:
            assert psutil.pid_exists(daemon), "the daemon died"
            time.sleep(0.2)
    rows = ptm.jlist()  # it answers
    assert len(rows) == 120
    assert any(row["status"] == "online" for row in rows)
    assert psutil.pid_exists(daemon)
    log_size = (ptm.home / "daemon.log").stat().st_size
    assert log_size < 512 * 1024, f"daemon.log grew to {log_size} bytes"
    killed = ptm("kill", timeout=90)
    assert killed.returncode == 0, killed
    assert not psutil.pid_exists(daemon) or psutil.Process(daemon).status() == "zombie"


def test_the_daemon_raises_its_soft_open_files_limit_to_the_hard_one(ptm: Ptm) -> None:
    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))

    subprocess.run(
        [*PTM, "ping"],
        cwd=ptm.cwd,
        env=dict(os.environ),
        preexec_fn=low_soft_limit,
        capture_output=True,
        timeout=60,
        check=True,
    )
    daemon = ptm.daemon_pid()
    assert daemon is not None
    assert psutil.Process(daemon).rlimit(psutil.RLIMIT_NOFILE) == (4096, 4096)
    assert "raised the open files limit from 256 to 4096" in (ptm.home / "daemon.log").read_text()
