"""An instance that does not poll the node (POLLER) follows the database instead.

Several instances of Point-Tron (ptm's cluster mode) share one SQLite file; one of them polls
the node and writes blocks, the others only read. Each tick of a follower publishes the blocks
stored since its last tick to its own subscribers (the WebSocket fan-out), so a dashboard
connected to any instance gets live blocks, one polling interval late at most.
"""

from __future__ import annotations

from collections.abc import Callable

from point_tron.chain import StoredBlock
from point_tron.db import Database
from point_tron.rpc import BATCH_LIMIT

__all__ = ["follow"]


async def follow(
    db: Database, followed: int | None, publish: Callable[[list[StoredBlock]], None]
) -> int:
    """Publish the stored blocks above ``followed`` in batches; the new ``followed``.

    The first call (``followed`` None) publishes nothing: it starts at the last stored block.
    After a rollback by the poller (the last stored block is below ``followed``), it starts
    again from there, so the blocks stored in place of the rolled-back ones are published.
    """
    last = (await db.last_stored()).block_number or 0
    if followed is None or last < followed:
        return last
    while True:
        stored = await db.stored_above(followed, BATCH_LIMIT)
        if not stored:
            return followed
        followed = stored[-1].block.number
        publish(stored)
