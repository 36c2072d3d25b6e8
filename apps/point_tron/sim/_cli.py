"""`tron-sim`: run the simulator from the command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio

from point_tron.sim._app import build_app
from point_tron.sim._chain import DEFAULT_START_HEIGHT, STATE_FILE, Chain
from point_tron.sim._faults import Faults
from point_tron.sim._server import SimServer

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tron-sim",
        description="An offline TRON full-node simulator: a deterministic chain from a seed.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port; 0 picks a free one (default 8090)")
    p.add_argument("--seed", type=int, default=1, help="chain seed (default 1)")
    p.add_argument(
        "--block-interval",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="seconds per block, fractions allowed (default 3)",
    )
    p.add_argument(
        "--start-height",
        type=int,
        default=DEFAULT_START_HEIGHT,
        help=f"head height at start (default {DEFAULT_START_HEIGHT})",
    )
    p.add_argument(
        "--initial-blocks",
        type=int,
        default=0,
        metavar="N",
        help="blocks already produced at start (head = start height + N)",
    )
    p.add_argument(
        "--genesis-ms",
        type=int,
        default=None,
        help="timestamp (ms) of block 0; default: the head block is stamped now",
    )
    p.add_argument(
        "--max-txs", type=int, default=12, help="most transactions in a block (default 12)"
    )
    p.add_argument("--latency-ms", type=int, default=0, help="delay every /wallet/ answer")
    p.add_argument("--http-error-rate", type=float, default=0.0, help="share answered HTTP 503")
    p.add_argument("--error-body-rate", type=float, default=0.0, help='share answered {"Error"}')
    p.add_argument("--drop-rate", type=float, default=0.0, help="share closed without answer")
    p.add_argument("--stall", action="store_true", help="start with the head stalled")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"keep the chain in DIR/{STATE_FILE}: a restart resumes it, its head where "
        "the clock puts it (default: a new chain at every start)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="with --data-dir: start a new chain from the flags, replacing the saved one",
    )
    p.add_argument(
        "--reorg",
        type=int,
        default=0,
        metavar="N",
        help="at start, replace the top N blocks with another branch (a reorg of depth N)",
    )
    p.add_argument(
        "--lag",
        type=int,
        default=0,
        metavar="N",
        help="serve a head N blocks behind the chain's (a node that is behind)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    interval_ms = round(args.block_interval * 1000)
    if interval_ms < 1:
        print(
            f"tron-sim: --block-interval {args.block_interval}: must be at least 0.001",
            file=sys.stderr,
        )
        return 2
    faults = Faults()
    try:
        faults.update(
            {
                "latency_ms": args.latency_ms,
                "http_error_rate": args.http_error_rate,
                "error_body_rate": args.error_body_rate,
                "drop_rate": args.drop_rate,
            }
        )
        chain = _chain(args, interval_ms)
        chain.set_lag(args.lag)
        if args.reorg:
            fork = chain.reorg(args.reorg)
            print(f"tron-sim: reorg: every block above {fork} is on a new branch", flush=True)
    except ValueError as exc:
        print(f"tron-sim: {exc}", file=sys.stderr)
        return 2
    app = build_app(chain, faults, fault_seed=args.seed)
    server = SimServer(app, host=args.host, port=args.port, log_level=args.log_level)
    try:
        server.bind()
    except OSError as exc:
        print(f"tron-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    anyio.run(_serve, server)
    return 0


def _chain(args: argparse.Namespace, interval_ms: int) -> Chain:
    """The saved chain (with --data-dir and its file, unless --fresh), or a new one."""
    state_file = None if args.data_dir is None else args.data_dir / STATE_FILE
    if state_file is not None and state_file.exists() and not args.fresh:
        chain = Chain.resume(state_file)
        if args.stall:
            chain.stall()
        print(f"tron-sim: resuming the chain in {state_file} at height {chain.head}", flush=True)
        return chain
    chain = Chain.new(
        seed=args.seed,
        interval_ms=interval_ms,
        start_height=args.start_height,
        initial_blocks=args.initial_blocks,
        genesis_ms=args.genesis_ms,
        max_txs=args.max_txs,
        stalled=args.stall,
    )
    if state_file is not None:
        try:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            chain.state_file = state_file
            chain.save()
        except OSError as exc:
            raise ValueError(f"--data-dir {args.data_dir}: {exc}") from None
    return chain


async def _serve(server: SimServer) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            url = await tg.start(server.serve)
            print(f"tron-sim listening on {url}", flush=True)
            tg.start_soon(_stop_on_signal, signals, server)


async def _stop_on_signal(signals: AsyncIterator[signal.Signals], server: SimServer) -> None:
    async for _ in signals:
        server.shutdown()
        return
