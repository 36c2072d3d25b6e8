"""TRON blocks as Point-Tron sees them, and the odd/even game over their hashes.

"Odd/even" (单/双) is the parity of the last decimal digit of the block *hash* (its blockID),
not of the block number. Each block scores +1 when even and -1 when odd.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Block", "StoredBlock", "block_from_json", "is_odd", "last_digit", "point_change"]


@dataclass(frozen=True, slots=True)
class Block:
    """One block, parsed from a full node's JSON."""

    number: int
    hash: str
    timestamp_ms: int
    witness_address: str
    parent_hash: str
    tx_count: int
    last_digit: int
    is_odd: bool


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """A block as written: its score change and the running score after it."""

    block: Block
    point_change: int
    cumulative_score: int


def last_digit(block_hash: str) -> int:
    """The first decimal digit met scanning `block_hash` from its end (a-f skipped); 0 if none."""
    text = block_hash[2:] if block_hash[:2] in ("0x", "0X") else block_hash
    for char in reversed(text):
        if "0" <= char <= "9":
            return ord(char) - 48
    return 0


def is_odd(block_hash: str) -> bool:
    """Whether the hash's last decimal digit is odd."""
    return last_digit(block_hash) % 2 == 1


def point_change(odd: bool) -> int:
    """+1 for an even block, -1 for an odd one."""
    return -1 if odd else 1


def block_from_json(data: Mapping[str, Any]) -> Block:
    """Parse a node's block JSON (`blockID`, `block_header.raw_data`, `transactions`).

    Raises ValueError naming the missing or malformed field.
    """
    try:
        block_id = data["blockID"]
        raw = data["block_header"]["raw_data"]
        number = raw["number"]
        timestamp = raw["timestamp"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"block JSON lacks {exc}") from None
    if not isinstance(block_id, str) or not block_id:
        raise ValueError(f"blockID is not a hex string: {block_id!r}")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ValueError(f"block_header.raw_data.number is not a block height: {number!r}")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise ValueError(f"block_header.raw_data.timestamp is not milliseconds: {timestamp!r}")
    transactions = data.get("transactions")
    digit = last_digit(block_id)
    return Block(
        number=number,
        hash=block_id,
        timestamp_ms=timestamp,
        witness_address=str(raw.get("witness_address", "")),
        parent_hash=str(raw.get("parentHash", "")),
        tx_count=len(transactions) if isinstance(transactions, list) else 0,
        last_digit=digit,
        is_odd=digit % 2 == 1,
    )
