"""TRON blocks as Point-Tron sees them, and the odd/even game over their hashes.

"Odd/even" (单/双) is the parity of the last decimal digit of the block *hash* (its blockID),
not of the block number. Each block scores +1 when even and -1 when odd.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Block",
    "StoredBlock",
    "block_from_json",
    "is_odd",
    "is_tron_address",
    "last_digit",
    "point_change",
]


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


MAX_BLOCK_NUMBER = 2**63 - 1  # SQLite's INTEGER
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX_ADDRESS = re.compile(r"41[0-9a-fA-F]{40}")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_ADDRESS = re.compile(f"T[{_BASE58}]{{33}}")


def is_tron_address(text: str) -> bool:
    """A TRON account address: hex ``41`` + 20 bytes, or base58check ``T...`` (34 characters)."""
    if _HEX_ADDRESS.fullmatch(text):
        return True
    if not _BASE58_ADDRESS.fullmatch(text):
        return False
    value = 0
    for char in text:
        value = value * 58 + _BASE58.index(char)
    try:
        raw = value.to_bytes(25, "big")
    except OverflowError:
        return False
    payload, checksum = raw[:21], raw[21:]
    return payload[0] == 0x41 and hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == (
        checksum
    )


def _show(value: object) -> str:
    """A value for an error message: its repr, cut to 40 characters with its length."""
    text = repr(value)
    if len(text) <= 40:
        return text
    size = len(value) if isinstance(value, str | list | dict) else len(text)
    return f"{text[:40]}... ({size} long)"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def block_from_json(data: Mapping[str, Any]) -> Block:
    """Parse a node's block JSON (`blockID`, `block_header.raw_data`, `transactions`).

    Every field is checked, so a hostile or broken node cannot make us store junk (a 2 MB
    "block id"): blockID is 64 hex digits whose first 16 are the height (as on every TRON
    network); number a height that fits SQLite; timestamp milliseconds before year 10000;
    witness_address a TRON address (hex ``41...`` or base58 ``T...``); parentHash 64 hex
    digits; transactions, when present, a list. Raises ValueError ``refused block N: ...``
    naming the field, with long values cut short.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"refused a block: not a JSON object: {_show(data)}")
    try:
        block_id = data["blockID"]
        raw = data["block_header"]["raw_data"]
        number = raw["number"]
        timestamp = raw["timestamp"]
    except KeyError as exc:
        raise ValueError(f"refused a block: block JSON lacks {_show(exc.args[0])}") from None
    except TypeError:
        raise ValueError("refused a block: block_header.raw_data is not a JSON object") from None
    if not _is_int(number) or not 0 <= number <= MAX_BLOCK_NUMBER:
        raise ValueError(
            f"refused a block: block_header.raw_data.number is not a block height: {_show(number)}"
        )

    def refuse(problem: str) -> ValueError:
        return ValueError(f"refused block {number}: {problem}")

    if not isinstance(block_id, str) or not _HEX64.fullmatch(block_id):
        raise refuse(f"blockID is not 64 hex digits: {_show(block_id)}")
    if int(block_id[:16], 16) != number:
        raise refuse(f"blockID {block_id[:16]}... does not start with the height ({number:016x})")
    if not _is_int(timestamp) or not 0 <= timestamp <= MAX_TIMESTAMP_MS:
        raise refuse(f"block_header.raw_data.timestamp is not milliseconds: {_show(timestamp)}")
    witness = raw.get("witness_address")
    if not isinstance(witness, str) or not is_tron_address(witness):
        raise refuse(f"witness_address is not a TRON address: {_show(witness)}")
    parent = raw.get("parentHash")
    if not isinstance(parent, str) or not _HEX64.fullmatch(parent):
        raise refuse(f"parentHash is not 64 hex digits: {_show(parent)}")
    transactions = data.get("transactions", [])
    if not isinstance(transactions, list):
        raise refuse(f"transactions is not a list: {_show(transactions)}")
    block_hash = block_id.lower()
    digit = last_digit(block_hash)
    return Block(
        number=number,
        hash=block_hash,
        timestamp_ms=timestamp,
        witness_address=witness,
        parent_hash=parent.lower(),
        tx_count=len(transactions),
        last_digit=digit,
        is_odd=digit % 2 == 1,
    )
