"""The README's main job: ``ptm start examples/ecosystem.toml`` brings up the TRON node
simulator and Point-Tron under the daemon, and Point-Tron follows the chain.

The example file is run as shipped, but for its ports (free ones, so the test never meets a
Point-Tron the developer left running) and its pace (blocks every 0.2 s, not 3 s)."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Ptm
from tests.helpers import free_port

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ecosystem.toml"


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"examples/ecosystem.toml no longer has {old!r} once"
    return text.replace(old, new)


def test_ptm_start_of_the_example_runs_point_tron_against_the_simulator(
    ptm: Ptm, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the README says: the venv's bin on PATH, where the apps' console scripts are.
    venv_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    sim_port, web_port = free_port(), free_port()
    text = EXAMPLE.read_text()
    text = _edit(text, '"--port", "8090"', f'"--port", "{sim_port}"')
    text = _edit(text, '"--block-interval", "3"', '"--block-interval", "0.2"')
    text = _edit(text, 'PORT = "3000"', f'PORT = "{web_port}"')
    text = _edit(text, '"http://127.0.0.1:8090"', f'"http://127.0.0.1:{sim_port}"')
    text = _edit(text, 'TRON_POLLING_INTERVAL = "3000"', 'TRON_POLLING_INTERVAL = "200"')
    (ptm.cwd / "examples").mkdir()
    (ptm.cwd / "examples" / "ecosystem.toml").write_text(text)

    ptm.ok("start", "examples/ecosystem.toml")
    rows = ptm.wait_online(2, timeout=30)
    assert sorted(r["name"] for r in rows) == ["point-tron", "tron-sim"]
    table = ptm.ok("list")
    assert "point-tron" in table and "tron-sim" in table

    base = f"http://127.0.0.1:{web_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            health = httpx.get(f"{base}/health", timeout=5)
            data = health.json()["data"]
            if health.status_code == 200 and (data["database"]["totalBlocks"] or 0) >= 3:
                break
        except httpx.TransportError:
            data = "not listening yet"
        assert time.monotonic() < deadline, f"Point-Tron never followed the chain: {data}"
        time.sleep(0.1)
    assert data["status"] == "healthy"
    assert httpx.get(f"{base}/login", timeout=5).status_code == 200
    assert (ptm.cwd / "data" / "point-tron.db").is_file()  # cwd = ".." of the file
    # No JWT_SECRET in the example: Point-Tron generated one, kept beside the database.
    secret = ptm.cwd / "data" / "point-tron.db.jwt-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((ptm.cwd / "data" / "point-tron.db").stat().st_mode) == 0o600
    logs = ptm.ok("logs", "point-tron", "--nostream", "--lines", "50")
    assert "listening on http://" in logs
    assert [r["restarts"] for r in ptm.jlist()] == [0, 0]
