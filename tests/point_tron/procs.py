"""Real ``tron-sim`` and ``point-tron`` processes for the end-to-end and browser tests.

Each process's stdout is read by a thread into a queue, so a test waits for a line (the
"listening" announcement) with a deadline instead of sleeping. Every process started here is
stopped by pid (SIGTERM, then SIGKILL after a deadline) when the context manager exits.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

JWT_SECRET = "e2e-secret-e2e-secret-e2e-secret-0123456789"


def bin_path(name: str) -> str:
    """A console script of this venv (point-tron, tron-sim)."""
    return str(Path(sys.executable).parent / name)


class Proc:
    def __init__(self, args: Sequence[str], env: dict[str, str], **popen: Any) -> None:
        self.popen = subprocess.Popen(
            list(args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **popen,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """The first line (from now on) matching ``pattern``; fails after ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s: {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"exited ({self.popen.wait()}) before {pattern!r}: {self.seen}"
                )
            self.seen.append(line)
            match = regex.search(line)
            if match:
                return match

    def terminate(self, timeout: float = 5.0) -> int:
        """SIGTERM and wait; SIGKILL after ``timeout`` (and fail the caller's check)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"pid {self.popen.pid} ignored SIGTERM for {timeout}s") from None

    def rest(self) -> list[str]:
        """Every line after the process ended."""
        self._reader.join(timeout=5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.seen
            if line is not None:
                self.seen.append(line)


@contextmanager
def running(args: Sequence[str], env: dict[str, str], **popen: Any) -> Iterator[Proc]:
    proc = Proc(args, env, **popen)
    try:
        yield proc
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
        proc.popen.wait()
        if proc.popen.stdout is not None:
            proc._reader.join(timeout=5)
            proc.popen.stdout.close()


@contextmanager
def tron_sim(block_interval: float = 0.2, initial_blocks: int = 50) -> Iterator[str]:
    """A real ``tron-sim`` on a free port; yields its base URL."""
    args = [
        bin_path("tron-sim"),
        "--port",
        "0",
        "--seed",
        "1",
        "--block-interval",
        str(block_interval),
        "--initial-blocks",
        str(initial_blocks),
    ]
    with running(args, dict(os.environ)) as sim:
        url = sim.wait_for(r"listening on (http://\S+)").group(1)
        yield url
        assert sim.terminate() == 0


def point_tron_env(tmp_path: Path, rpc_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "PTM_"))}
    env.update(
        {
            "PORT": "0",
            "DB_PATH": str(tmp_path / "data" / "point-tron.db"),
            "TRON_RPC_URL": rpc_url,
            "TRON_POLLING_INTERVAL": "100",
            "TRON_RETRY_TIMES": "1",
            "JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def listening_port(proc: Proc, timeout: float = 20.0) -> int:
    """Wait for point-tron's JSON "listening" line; its port."""
    line = proc.wait_for(r'"message": "listening on ', timeout).string
    return int(json.loads(line)["port"])
