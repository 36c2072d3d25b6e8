"""Metrics: how long a scrape takes with 50 processes, on the socket and on TCP.

    python -m benchmarks.bench_metrics [--quick]

A daemon runs 50 apps (``sleep`` children, all online, sampled every second for the
history). Measured from a client already connected, as Prometheus is: the latency of
``GET /v1/metrics`` on the daemon's Unix socket and of ``GET /metrics`` on the TCP listener
(``[daemon] metrics_address`` on 127.0.0.1), each the median of many scrapes. The first
scrape is reported apart: it loads ``prometheus_client``. Baseline: ``GET /v1/processes``
(what ``ptm jlist`` asks) on the same connection, the same 50 rows as JSON. The size of the
text is printed too.

Prints one markdown table: measure | ptm | baseline | ratio | target | ok?
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from benchmarks._util import Row, daemon_home, markdown_table, median, quick_requested
from benchmarks.bench_update import run, wait_online
from supervisor_core.client import Client

T = TypeVar("T")
APPS = 50
TARGET_MS = 50.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ecosystem(work: Path) -> Path:
    path = work / "apps.toml"
    path.write_text(
        "\n".join(
            f'[[apps]]\nname = "idle-{i}"\ncommand = ["sleep", "1000"]\nkill_timeout = "1s"\n'
            for i in range(APPS)
        )
    )
    return path


def _timed(call: Callable[[], T], runs: int) -> tuple[float, T]:
    """The median milliseconds of ``runs`` calls, and the last call's result."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return median(times) * 1000, result


def measure(runs: int) -> list[Row]:
    port = _free_port()
    with daemon_home() as (home, work, env):
        home.mkdir(parents=True, exist_ok=True)
        (home / "daemon.toml").write_text(f'[daemon]\nmetrics_address = "127.0.0.1:{port}"\n')
        run("start", str(_ecosystem(work)), env=env, cwd=work)
        with Client(home, autostart=False) as client, httpx.Client() as tcp:
            wait_online(client, APPS)
            time.sleep(2)  # a few samples of every process
            started = time.perf_counter()
            client.metrics()
            first_ms = (time.perf_counter() - started) * 1000
            sock_ms, text = _timed(client.metrics, runs)
            url = f"http://127.0.0.1:{port}/metrics"
            tcp_ms, answer = _timed(lambda: tcp.get(url), runs)
            rows_ms, _ = _timed(client.processes, runs)
    if answer.status_code != 200 or "ptm_process_resident_memory_bytes" not in answer.text:
        raise RuntimeError(f"the TCP scrape failed: {answer.status_code}")
    size = f"{len(text.encode()) / 1024:.0f} KiB of text"
    return [
        Row(
            f"`GET /v1/metrics` on the socket, {APPS} processes (median of {runs}; {size})",
            f"{sock_ms:.1f} ms",
            f"{rows_ms:.1f} ms (`GET /v1/processes`)",
            sock_ms / rows_ms,
            f"< {TARGET_MS:g} ms",
            sock_ms < TARGET_MS,
        ),
        Row(
            f"`GET /metrics` on TCP 127.0.0.1, {APPS} processes (median of {runs})",
            f"{tcp_ms:.1f} ms",
            f"{rows_ms:.1f} ms (`GET /v1/processes`)",
            tcp_ms / rows_ms,
            f"< {TARGET_MS:g} ms",
            tcp_ms < TARGET_MS,
        ),
        Row(
            "the first scrape (loads prometheus_client)",
            f"{first_ms:.1f} ms",
            "—",
            None,
            "—",
            None,
        ),
    ]


def main() -> None:
    runs = 20 if quick_requested(sys.argv[1:]) else 100
    print(markdown_table(measure(runs)))


if __name__ == "__main__":
    main()
