"""The simulated chain: blocks as a pure function of (seed, n), and a head that moves."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_START_HEIGHT", "SR_COUNT", "STATE_FILE", "Chain", "ChainSpec"]

STATE_FILE = "tron-sim-chain.json"  # in --data-dir: what makes the chain survive a restart

DEFAULT_START_HEIGHT = 60_000_000
SR_COUNT = 27  # TRON's super representatives take turns producing blocks


@dataclass(frozen=True)
class ChainSpec:
    """Everything block n depends on. `genesis_ms` is the timestamp block 0 would have.

    `forks` are the heights of reorganisations: every block above a fork height F gets another
    blockID (a new branch), block F and below stay. No forks: the original chain.
    """

    seed: int = 1
    interval_ms: int = 3000
    genesis_ms: int = 0
    max_txs: int = 12
    forks: tuple[int, ...] = ()

    def timestamp_ms(self, number: int) -> int:
        return self.genesis_ms + number * self.interval_ms

    def block_id(self, number: int) -> str:
        """64 hex digits: the first 16 are the height, as on mainnet."""
        branch = sum(1 for fork in self.forks if fork < number)
        salt = b"id" if branch == 0 else b"id/%d" % branch
        return f"{number:016x}{_digest(self.seed, number, salt)[:24].hex()}"

    def witness(self, number: int) -> str:
        return "41" + _digest(self.seed, number % SR_COUNT, b"sr")[:20].hex()

    def tx_count(self, number: int) -> int:
        roll = _digest(self.seed, number, b"txs")
        if self.max_txs <= 0 or roll[0] < 51:  # about one block in five is empty
            return 0
        return 1 + roll[1] % self.max_txs

    def block(self, number: int) -> dict[str, Any]:
        """Block `number` in a full node's JSON shape (`transactions` absent when empty)."""
        seed = self.seed
        timestamp = self.timestamp_ms(number)
        parent = self.block_id(number - 1) if number > 0 else "0" * 64
        block: dict[str, Any] = {
            "blockID": self.block_id(number),
            "block_header": {
                "raw_data": {
                    "number": number,
                    "txTrieRoot": _digest(seed, number, b"trie").hex(),
                    "witness_address": self.witness(number),
                    "parentHash": parent,
                    "version": 30,
                    "timestamp": timestamp,
                },
                "witness_signature": (
                    _digest(seed, number, b"sig1") + _digest(seed, number, b"sig2")
                ).hex()
                + "00",
            },
        }
        count = self.tx_count(number)
        if count:
            block["transactions"] = [self._transaction(number, i, parent) for i in range(count)]
        return block

    def _transaction(self, number: int, index: int, parent: str) -> dict[str, Any]:
        salt = b"tx%d" % index
        digest = _digest(self.seed, number, salt)
        created = self.timestamp_ms(number) - 1000 - digest[0] * 10
        return {
            "ret": [{"contractRet": "SUCCESS"}],
            "signature": [(digest + _digest(self.seed, number, salt + b"s")).hex() + "1b"],
            "txID": _digest(self.seed, number, salt + b"id").hex(),
            "raw_data": {
                "contract": [
                    {
                        "parameter": {
                            "value": {
                                "amount": 1 + int.from_bytes(digest[1:5], "big"),
                                "owner_address": "41" + digest[5:25].hex(),
                                "to_address": "41"
                                + _digest(self.seed, number, salt + b"to")[:20].hex(),
                            },
                            "type_url": "type.googleapis.com/protocol.TransferContract",
                        },
                        "type": "TransferContract",
                    }
                ],
                "ref_block_bytes": f"{(number - 1) & 0xFFFF:04x}",
                "ref_block_hash": parent[16:32],
                "expiration": created + 60_000,
                "timestamp": created,
            },
        }

    def encoded(self, number: int) -> bytes:
        """The block's JSON bytes (cached: a node serves the same block many times)."""
        return _encoded(self, number)


def _digest(seed: int, number: int, what: bytes) -> bytes:
    return hashlib.sha256(b"tron-sim|%d|%d|%s" % (seed, number, what)).digest()


@lru_cache(maxsize=4096)
def _encoded(spec: ChainSpec, number: int) -> bytes:
    return json.dumps(spec.block(number), separators=(",", ":")).encode()


class Chain:
    """A ChainSpec plus a head that advances one block per interval of (monotonic) time.

    The head starts at `start_height + initial_blocks`. `stall()` freezes it, `unstall()`
    lets it move again, `advance(n)` produces n blocks at once. Blocks 0..head exist.
    `lag` blocks are held back: the node serves a head that far behind the produced one (a
    node that is behind its network). `reorg(depth)` replaces the top `depth` blocks. With a
    `state_file`, the spec (seed, interval, genesis, forks) is saved there on every change.
    """

    def __init__(
        self,
        spec: ChainSpec,
        *,
        start_height: int = DEFAULT_START_HEIGHT,
        initial_blocks: int = 0,
        stalled: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if spec.interval_ms < 1:
            raise ValueError(f"block interval must be at least 1 ms, not {spec.interval_ms}")
        if start_height < 0 or initial_blocks < 0:
            raise ValueError("start height and initial blocks must not be negative")
        self.spec = spec
        self.start_height = start_height
        self._clock = clock
        self._base = start_height + initial_blocks
        self._since = clock()
        self.stalled = stalled
        self.lag = 0
        self.state_file: Path | None = None

    @classmethod
    def new(
        cls,
        *,
        seed: int = 1,
        interval_ms: int = 3000,
        start_height: int = DEFAULT_START_HEIGHT,
        initial_blocks: int = 0,
        genesis_ms: int | None = None,
        max_txs: int = 12,
        stalled: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> Chain:
        """A chain whose head block is stamped "now" unless `genesis_ms` is given."""
        if genesis_ms is None:
            now_ms = int(time.time() * 1000)
            genesis_ms = now_ms - (start_height + initial_blocks) * interval_ms
        spec = ChainSpec(seed=seed, interval_ms=interval_ms, genesis_ms=genesis_ms, max_txs=max_txs)
        return cls(
            spec,
            start_height=start_height,
            initial_blocks=initial_blocks,
            stalled=stalled,
            clock=clock,
        )

    @property
    def produced(self) -> int:
        """The network's head: the highest block produced (the node serves `lag` fewer)."""
        if self.stalled:
            return self._base
        elapsed_ms = (self._clock() - self._since) * 1000 + 1e-6  # absorb float rounding
        return self._base + int(elapsed_ms // self.spec.interval_ms)

    @property
    def head(self) -> int:
        """The head this node serves: `lag` blocks behind the produced one."""
        return max(0, self.produced - self.lag)

    def set_lag(self, blocks: int) -> None:
        if blocks < 0:
            raise ValueError(f"lag must be a whole number >= 0, not {blocks}")
        self.lag = blocks

    def reorg(self, depth: int) -> int:
        """Replace the top `depth` served blocks with another branch; the fork height."""
        head = self.head
        if not 1 <= depth <= head:
            raise ValueError(f"reorg depth must be 1..{head}, not {depth}")
        fork = head - depth
        self.spec = replace(self.spec, forks=(*self.spec.forks, fork))
        self.save()
        return fork

    def save(self) -> None:
        """Write the spec to `state_file` (atomically), if there is one."""
        if self.state_file is None:
            return
        spec = self.spec
        data = {
            "seed": spec.seed,
            "interval_ms": spec.interval_ms,
            "genesis_ms": spec.genesis_ms,
            "max_txs": spec.max_txs,
            "forks": list(spec.forks),
            "start_height": self.start_height,
        }
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(data) + "\n")
        os.replace(tmp, self.state_file)

    @classmethod
    def resume(cls, state_file: Path, *, now_ms: int | None = None) -> Chain:
        """The chain saved in `state_file`, its head where the clock puts it now.

        As on a real network, time did not stop while the node was down: the head is the
        block stamped at or before now. Raises ValueError for a file that is not a state.
        """
        try:
            data = json.loads(state_file.read_text())
            spec = ChainSpec(
                seed=int(data["seed"]),
                interval_ms=int(data["interval_ms"]),
                genesis_ms=int(data["genesis_ms"]),
                max_txs=int(data["max_txs"]),
                forks=tuple(int(f) for f in data["forks"]),
            )
            start_height = int(data["start_height"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{state_file}: not a tron-sim chain state ({exc})") from None
        now = int(time.time() * 1000) if now_ms is None else now_ms
        head = max(start_height, (now - spec.genesis_ms) // spec.interval_ms)
        chain = cls(spec, start_height=start_height, initial_blocks=head - start_height)
        chain.state_file = state_file
        return chain

    def _settle(self) -> None:
        """Fold the blocks produced so far into the base, keeping the partial interval."""
        if self.stalled:
            return
        produced = self.produced - self._base
        self._base += produced
        self._since += produced * self.spec.interval_ms / 1000

    def advance(self, blocks: int) -> int:
        """Produce `blocks` blocks now; the new head."""
        if blocks < 0:
            raise ValueError(f"cannot advance by {blocks} blocks")
        self._settle()
        self._base += blocks
        return self.head

    def stall(self) -> None:
        self._settle()
        self.stalled = True

    def unstall(self) -> None:
        if self.stalled:
            self.stalled = False
            self._since = self._clock()

    def has(self, number: int) -> bool:
        return 0 <= number <= self.head
