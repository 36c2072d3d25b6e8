"""chain.py: last_digit over hashes, parity, points, parsing a node's block JSON."""

from __future__ import annotations

import pytest

from point_tron.chain import (
    Block,
    block_from_json,
    is_odd,
    is_tron_address,
    last_digit,
    point_change,
)


@pytest.mark.parametrize(
    ("block_hash", "digit"),
    [
        ("00000000048632f6aaaa", 6),  # letters at the end are skipped
        ("0000000003938700aaf175930726da78c5cb57699fad0713e39c2fc1e17b9dfd", 9),
        ("abc1", 1),
        ("0x12ab", 2),  # a 0x prefix is not part of the hash
        ("0xabcdef", 0),  # no decimal digit at all
        ("ffffffff", 0),
        ("", 0),
        ("7", 7),
        ("90", 0),
        ("3F", 3),  # upper-case hex letters are skipped too
    ],
)
def test_last_digit(block_hash: str, digit: int) -> None:
    assert last_digit(block_hash) == digit


def test_parity_is_about_the_hash_not_the_number() -> None:
    assert is_odd("00000000000000020003")  # number 2 (even), hash ends in 3 (odd)
    assert not is_odd("0000000000000001abcd8ef")
    assert not is_odd("abcdef")  # no digit counts as 0, even


def test_point_change() -> None:
    assert point_change(False) == 1
    assert point_change(True) == -1


BLOCK_ID = f"{60000001:016x}" + "ab" * 23 + "c5"
PARENT = f"{60000000:016x}" + "cd" * 24
WITNESS = "41" + "aa" * 20
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # a real base58check TRON address


def _node_block(**raw: object) -> dict[str, object]:
    data: dict[str, object] = {
        "number": 60000001,
        "timestamp": 1_700_000_000_000,
        "witness_address": WITNESS,
        "parentHash": PARENT,
    }
    data.update(raw)
    return {"blockID": BLOCK_ID, "block_header": {"raw_data": data}}


def test_block_from_json_reads_every_field() -> None:
    data = _node_block()
    data["transactions"] = [{"txID": "a"}, {"txID": "b"}]
    assert block_from_json(data) == Block(
        number=60000001,
        hash=BLOCK_ID,
        timestamp_ms=1_700_000_000_000,
        witness_address=WITNESS,
        parent_hash=PARENT,
        tx_count=2,
        last_digit=5,
        is_odd=True,
    )


def test_block_without_transactions_has_zero() -> None:
    assert block_from_json(_node_block()).tx_count == 0


def test_a_base58_witness_address_is_accepted() -> None:
    assert block_from_json(_node_block(witness_address=USDT)).witness_address == USDT
    assert is_tron_address(USDT)
    assert not is_tron_address(USDT[:-1] + "u")  # checksum
    assert not is_tron_address("41" + "aa" * 19)  # 19 bytes
    assert not is_tron_address("42" + "aa" * 20)


def _with(**top: object) -> dict[str, object]:
    data = _node_block()
    data.update(top)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "lacks 'blockID'"),
        ({"blockID": "ab12"}, "lacks 'block_header'"),
        ({"blockID": "ab12", "block_header": {"raw_data": {"number": 1}}}, "lacks 'timestamp'"),
        (_node_block(number="12"), "number is not a block height"),
        (_node_block(number=-1), "number is not a block height"),
        (_node_block(number=2**63), "number is not a block height"),
        (_node_block(timestamp=1.5), "timestamp is not milliseconds"),
        (_node_block(timestamp=-1), "timestamp is not milliseconds"),
        (_node_block(timestamp=10**17), "timestamp is not milliseconds"),
        (_with(blockID=12), "blockID is not 64 hex digits"),
        (_with(blockID=BLOCK_ID[:-1]), "blockID is not 64 hex digits"),
        (_with(blockID=BLOCK_ID + "ab" * 1_000_000), r"blockID .*\.\.\. \(2000064 long\)"),
        (_with(blockID=BLOCK_ID[:-1] + "g"), "blockID is not 64 hex digits"),
        (_with(blockID=f"{7:016x}" + BLOCK_ID[16:]), "does not start with the height"),
        (_node_block(witness_address="41aa"), "witness_address is not a TRON address"),
        (_node_block(witness_address=None), "witness_address is not a TRON address"),
        (_node_block(parentHash="00ff"), "parentHash is not 64 hex digits"),
        (_with(transactions={"a": 1}), "transactions is not a list"),
        ([], "not a JSON object"),
    ],
)
def test_block_from_json_names_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        block_from_json(data)  # type: ignore[arg-type]
    assert str(info.value).startswith("refused ")
    assert len(str(info.value)) < 200
