"""Run Database + Poller as Point-Tron would, configured by the same environment variables.

    DB_PATH=... TRON_RPC_URL=http://127.0.0.1:PORT python -m tests.point_tron.ingest_worker

Prints "ready" once polling, then "batch FIRST LAST SCORE" for every committed batch.
SIGTERM or SIGINT stops the poller after the batch being written and exits 0. The crash
test SIGKILLs it instead.
"""

from __future__ import annotations

import signal
import sys

import anyio
from anyio.abc import ObjectReceiveStream

from point_tron.chain import StoredBlock
from point_tron.config import load_settings
from point_tron.db import Database
from point_tron.errors import SettingsError
from point_tron.ingest import Poller


async def _print_batches(stream: ObjectReceiveStream[list[StoredBlock]]) -> None:
    async for batch in stream:
        first, last = batch[0], batch[-1]
        print(f"batch {first.block.number} {last.block.number} {last.cumulative_score}", flush=True)


async def _run() -> None:
    settings = load_settings()
    db = await Database.open(settings.db_path)
    try:
        poller = Poller(db, settings, stats_tz=settings.stats_tz)
        with (
            anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
            poller.subscribe() as stream,
        ):
            async with anyio.create_task_group() as tg:
                await tg.start(poller.run)
                tg.start_soon(_print_batches, stream)
                print("ready", flush=True)
                async for _ in signals:
                    await poller.stop()
                    break
    finally:
        await db.close()


def main() -> int:
    try:
        anyio.run(_run)
    except SettingsError as exc:
        print(f"ingest_worker: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
