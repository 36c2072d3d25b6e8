"""``[daemon] metrics_address``: the metrics scraped over TCP, with and without a token."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx

from tests.e2e.conftest import Ptm


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_config(home: Path, text: str) -> None:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "daemon.toml").write_text(text)


def test_a_non_loopback_address_serves_only_with_the_bearer_token(ptm: Ptm) -> None:
    token = ptm.cwd / "metrics.token"
    token.write_text("s3cret-token\n")
    os.chmod(token, 0o600)
    port = free_port("0.0.0.0")
    write_config(
        ptm.home,
        f'[daemon]\nmetrics_address = "0.0.0.0:{port}"\nmetrics_token_file = "{token}"\n',
    )
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    url = f"http://127.0.0.1:{port}/metrics"

    refused = httpx.get(url, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert "ptm_process_up" not in refused.text
    wrong = httpx.get(url, headers={"Authorization": "Bearer s3cret-tokeN"}, timeout=10)
    assert wrong.status_code == 401

    served = httpx.get(url, headers={"Authorization": "Bearer s3cret-token"}, timeout=10)
    assert served.status_code == 200, served.text
    assert served.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'ptm_process_up{app="api",id="0",instance="0"} 1.0' in served.text
    # read-only: nothing else is served
    other = httpx.get(
        f"http://127.0.0.1:{port}/v1/processes",
        headers={"Authorization": "Bearer s3cret-token"},
        timeout=10,
    )
    assert other.status_code == 404
    posted = httpx.post(url, headers={"Authorization": "Bearer s3cret-token"}, timeout=10)
    assert posted.status_code == 405


def test_loopback_needs_no_token(ptm: Ptm) -> None:
    port = free_port("127.0.0.1")
    write_config(ptm.home, f'[daemon]\nmetrics_address = "127.0.0.1:{port}"\n')
    ptm.ok("ping")
    served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert served.status_code == 200
    assert "ptm_processes 0.0" in served.text


def test_a_non_loopback_address_without_a_token_file_keeps_the_daemon_from_starting(
    ptm: Ptm,
) -> None:
    port = free_port("0.0.0.0")
    write_config(ptm.home, f'[daemon]\nmetrics_address = "0.0.0.0:{port}"\n')
    done = ptm("ping")
    assert done.returncode == 1
    assert f'metrics_address = "0.0.0.0:{port}" is not a loopback address' in done.stderr
    assert "metrics_token_file" in done.stderr
    assert "Traceback" not in done.stderr
    assert ptm.daemon_pid() is None
