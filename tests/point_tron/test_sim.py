"""tron-sim: deterministic blocks, a moving head, the node's answers, faults, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from point_tron.chain import block_from_json
from point_tron.sim import STATE_FILE, Chain, ChainSpec, Faults, build_app, serve_sim


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_block_n_is_a_pure_function_of_the_spec() -> None:
    a = ChainSpec(seed=1, interval_ms=3000, genesis_ms=1_600_000_000_000)
    b = ChainSpec(seed=1, interval_ms=3000, genesis_ms=1_600_000_000_000)
    other = ChainSpec(seed=2, interval_ms=3000, genesis_ms=1_600_000_000_000)
    assert a.block(60_000_123) == b.block(60_000_123)
    assert a.block(60_000_123)["blockID"] != other.block(60_000_123)["blockID"]


def test_block_shape_is_a_full_nodes() -> None:
    spec = ChainSpec(seed=1, interval_ms=3000, genesis_ms=1_600_000_000_000)
    numbers = range(60_000_000, 60_000_200)
    blocks = [spec.block(n) for n in numbers]
    for n, block in zip(numbers, blocks, strict=True):
        assert len(block["blockID"]) == 64 and int(block["blockID"], 16) >= 0
        assert block["blockID"][:16] == f"{n:016x}"
        raw = block["block_header"]["raw_data"]
        assert set(raw) == {
            "number",
            "txTrieRoot",
            "witness_address",
            "parentHash",
            "version",
            "timestamp",
        }
        assert raw["number"] == n and raw["timestamp"] == 1_600_000_000_000 + n * 3000
        assert raw["parentHash"] == spec.block_id(n - 1)
        assert raw["witness_address"].startswith("41") and len(raw["witness_address"]) == 42
        assert len(block["block_header"]["witness_signature"]) == 130
        if "transactions" in block:
            assert 1 <= len(block["transactions"]) <= 12
            tx = block["transactions"][0]
            assert tx["ret"] == [{"contractRet": "SUCCESS"}] and len(tx["txID"]) == 64
            assert tx["raw_data"]["contract"][0]["type"] == "TransferContract"
    empty = sum("transactions" not in b for b in blocks)
    assert 10 <= empty <= 80  # some blocks are empty, as on mainnet
    digits = {block_from_json(b).last_digit for b in blocks}
    assert digits == set(range(10))
    witnesses = {b["block_header"]["raw_data"]["witness_address"] for b in blocks}
    assert len(witnesses) == 27


def test_head_moves_with_time_stalls_and_advances() -> None:
    clock = FakeClock()
    chain = Chain.new(interval_ms=50, start_height=1000, initial_blocks=10, clock=clock)
    assert chain.head == 1010
    clock.now += 0.125
    assert chain.head == 1012
    chain.stall()
    clock.now += 10
    assert chain.head == 1012
    assert chain.advance(5) == 1017  # produced at once, even while stalled
    chain.unstall()
    clock.now += 0.05
    assert chain.head == 1018
    clock.now += 0.02
    assert chain.advance(1) == 1019
    clock.now += 0.03  # the partial interval before the advance still counts
    assert chain.head == 1020
    # the head block is stamped about now unless the genesis is given
    fresh = Chain.new(interval_ms=3000, start_height=500)
    assert abs(fresh.spec.timestamp_ms(500) - time.time() * 1000) < 5000
    with pytest.raises(ValueError, match="interval"):
        Chain.new(interval_ms=0)


@pytest.mark.anyio
async def test_endpoints_in_process() -> None:
    chain = Chain.new(seed=3, interval_ms=3000, start_height=2000, initial_blocks=150, stalled=True)
    app = build_app(chain)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as c:
        head = (await c.post("/wallet/getnowblock", json={})).json()
        assert head == chain.spec.block(2150)
        assert (
            await c.post("/wallet/getblockbynum", json={"num": 2001})
        ).json() == chain.spec.block(2001)
        assert (await c.post("/wallet/getblockbynum", json={"num": 2151})).json() == {}
        assert (await c.get("/wallet/getblockbynum", params={"num": 7})).json()["blockID"][
            :16
        ] == f"{7:016x}"
        got = (
            await c.post("/wallet/getblockbylimitnext", json={"startNum": 2100, "endNum": 2200})
        ).json()
        assert [b["block_header"]["raw_data"]["number"] for b in got["block"]] == list(
            range(2100, 2151)
        )
        assert got["block"][0] == chain.spec.block(2100)
        for start, end in ((2000, 2101), (10, 10), (10, 5), (2151, 2160)):
            body = {"startNum": start, "endNum": end}
            assert (await c.post("/wallet/getblockbylimitnext", json=body)).json() == {}
        bad = (await c.post("/wallet/getblockbynum", content=b"{nope")).json()
        assert "Error" in bad
        assert "Error" in (await c.post("/wallet/getblockbynum", json={"num": "x"})).json()
        state = (await c.post("/sim/advance", json={"blocks": 20})).json()
        assert state["head"] == 2170 and state["seed"] == 3 and state["stalled"] is True
        assert (await c.post("/sim/advance", json={"blocks": -1})).status_code == 400
        state = (await c.get("/sim/state")).json()
        assert state["genesis_ms"] == chain.spec.genesis_ms and state["interval_ms"] == 3000
        assert state["requests"] == 11  # /wallet/ requests only


@pytest.mark.anyio
async def test_faults_over_the_control_endpoint() -> None:
    chain = Chain.new(stalled=True)
    app = build_app(chain)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as c:
        r = await c.post(
            "/sim/faults",
            json={"http_error_next": 2, "http_error_status": 502, "error_body_next": 1},
        )
        assert r.status_code == 200 and r.json()["faults"]["http_error_next"] == 2
        assert [(await c.post("/wallet/getnowblock")).status_code for _ in range(2)] == [502, 502]
        assert (await c.post("/wallet/getnowblock")).json() == {
            "Error": "class org.tron.core.exception.BadItemException : tron-sim fault"
        }
        assert "blockID" in (await c.post("/wallet/getnowblock")).json()
        for bad in (
            {"drop_rate": 2},
            {"latency_ms": -1},
            {"bogus": 1},
            {"http_error_status": 404},
            {"stall": "yes"},
        ):
            r = await c.post("/sim/faults", json=bad)
            assert r.status_code == 400 and r.json()["error"]
        r = await c.post("/sim/faults", content=b"[")
        assert r.status_code == 400
        await c.post("/sim/faults", json={"http_error_rate": 1.0})
        assert (await c.post("/wallet/getnowblock")).status_code == 502  # the status set above
        assert (await c.get("/sim/state")).status_code == 200  # controls are never faulted
        state = (await c.post("/sim/faults", json={"reset": True})).json()
        assert state["faults"] == Faults().as_dict() and state["stalled"] is False
        assert (await c.post("/wallet/getnowblock")).status_code == 200
        state = (await c.post("/sim/faults", json={"stall": True})).json()
        assert state["stalled"] is True
        head = state["head"]
        await c.post("/sim/faults", json={"drop_next": 1})
        with pytest.raises(ConnectionResetError):  # in-process there is no socket to close
            await c.post("/wallet/getnowblock")
        assert (await c.get("/sim/state")).json()["head"] == head


@pytest.mark.anyio
async def test_dropped_connection_over_real_http() -> None:
    chain = Chain.new(stalled=True)
    faults = Faults(drop_next=1)
    async with serve_sim(chain, faults) as url, httpx.AsyncClient(base_url=url) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("/wallet/getnowblock", json={})
        assert (await c.post("/wallet/getnowblock", json={})).status_code == 200
        assert (await c.get("/sim/state")).json()["faults_injected"] == 1


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from point_tron.sim import main; raise SystemExit(main())", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the child prints its readiness line (or exits)
    return proc, line


def test_cli_announces_the_real_port_and_stops_on_sigterm() -> None:
    proc, line = _start_cli(
        "--port",
        "0",
        "--block-interval",
        "0.05",
        "--seed",
        "9",
        "--start-height",
        "1000",
        "--initial-blocks",
        "40",
        "--max-txs",
        "3",
    )
    try:
        assert line.startswith("tron-sim listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert not url.endswith(":0")
        state = httpx.get(f"{url}/sim/state", timeout=5).json()
        assert state["seed"] == 9 and state["interval_ms"] == 50 and state["max_txs"] == 3
        assert state["head"] >= 1040
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/sim/state", timeout=5).json()["head"] < 1045:
            assert time.monotonic() < deadline, "the head did not move"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_cli_rejects_a_bad_flag_in_one_line() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from point_tron.sim import main; raise SystemExit(main())",
            "--block-interval",
            "0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "tron-sim: --block-interval 0.0: must be at least 0.001"


def test_cli_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "point_tron.sim", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"tron-sim: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use"
    )


def test_public_names_are_curated() -> None:
    import point_tron.sim as sim

    assert len(set(sim.__all__)) == len(sim.__all__)  # (ruff keeps the order)
    assert all(hasattr(sim, name) for name in sim.__all__)
    public = {n for n in dir(sim) if not n.startswith("_")}
    assert public - set(sim.__all__) == set()


def test_a_reorg_replaces_only_the_blocks_above_the_fork() -> None:
    clock = FakeClock()
    chain = Chain(ChainSpec(seed=3, interval_ms=1000), start_height=100, stalled=True, clock=clock)
    before = {n: chain.spec.block(n) for n in range(90, 101)}
    assert chain.reorg(5) == 95
    after = {n: chain.spec.block(n) for n in range(90, 101)}
    for n in range(90, 96):
        assert after[n] == before[n]
    for n in range(96, 101):
        assert after[n]["blockID"] != before[n]["blockID"]
        assert after[n]["blockID"][:16] == f"{n:016x}"
        parent = after[n]["block_header"]["raw_data"]["parentHash"]
        assert parent == after[n - 1]["blockID"]  # the new branch links to the fork block
    with pytest.raises(ValueError, match="reorg depth"):
        chain.reorg(0)


def test_a_lagging_node_serves_an_older_head() -> None:
    clock = FakeClock()
    chain = Chain(ChainSpec(interval_ms=1000), start_height=100, clock=clock)
    chain.set_lag(7)
    assert (chain.produced, chain.head) == (100, 93)
    assert not chain.has(94)
    clock.now += 10
    assert chain.head == 103
    chain.set_lag(0)
    assert chain.head == 110
    with pytest.raises(ValueError):
        chain.set_lag(-1)


def test_a_saved_chain_resumes_at_the_clocks_height(tmp_path: Path) -> None:
    chain = Chain.new(seed=4, interval_ms=1000, start_height=500, genesis_ms=0, stalled=True)
    chain.state_file = tmp_path / STATE_FILE
    chain.save()
    chain.reorg(3)  # saved too
    again = Chain.resume(tmp_path / STATE_FILE, now_ms=600_500)
    assert again.head == 600
    assert again.spec == chain.spec and again.spec.forks == (497,)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a tron-sim chain state"):
        Chain.resume(tmp_path / "bad.json")


def test_cli_data_dir_keeps_the_chain_across_a_restart(tmp_path: Path) -> None:
    args = ("--port", "0", "--block-interval", "0.05", "--data-dir", str(tmp_path))
    heights = []
    for extra in ((), (), ("--fresh",)):
        proc, line = _start_cli(*args, *extra)
        try:
            if "--fresh" not in extra and heights:
                assert line.startswith("tron-sim: resuming the chain in "), line
                line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line.startswith("tron-sim listening on "), line
            url = line.split()[-1]
            heights.append(httpx.get(f"{url}/sim/state", timeout=5).json()["head"])
            os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    assert heights[0] >= 60_000_000
    assert heights[1] > heights[0]  # resumed, and time went on
    assert heights[2] < heights[1]  # --fresh: a new chain at the start height
    assert (tmp_path / STATE_FILE).is_file()


@pytest.mark.anyio
async def test_reorg_and_lag_over_the_control_endpoints() -> None:
    chain = Chain.new(start_height=1000, stalled=True)
    app = build_app(chain)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as client:
        old = (await client.post("/wallet/getnowblock")).json()["blockID"]
        state = (await client.post("/sim/reorg", json={"depth": 5})).json()
        assert state["forks"] == [995]
        assert (await client.post("/wallet/getnowblock")).json()["blockID"] != old
        assert (await client.post("/sim/reorg", json={"depth": 0})).status_code == 400
        state = (await client.post("/sim/lag", json={"blocks": 4})).json()
        assert (state["head"], state["produced"], state["lag"]) == (996, 1000, 4)
        assert (await client.post("/sim/lag", json={"blocks": -1})).status_code == 400
