"""chain.py: last_digit over hashes, parity, points, parsing a node's block JSON."""

from __future__ import annotations

import pytest

from point_tron.chain import Block, block_from_json, is_odd, last_digit, point_change


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


def _node_block(**raw: object) -> dict[str, object]:
    data: dict[str, object] = {
        "number": 60000001,
        "timestamp": 1_700_000_000_000,
        "witness_address": "41aa",
        "parentHash": "0000000003938700ff",
    }
    data.update(raw)
    return {"blockID": "0000000003938701abc5", "block_header": {"raw_data": data}}


def test_block_from_json_reads_every_field() -> None:
    data = _node_block()
    data["transactions"] = [{"txID": "a"}, {"txID": "b"}]
    assert block_from_json(data) == Block(
        number=60000001,
        hash="0000000003938701abc5",
        timestamp_ms=1_700_000_000_000,
        witness_address="41aa",
        parent_hash="0000000003938700ff",
        tx_count=2,
        last_digit=5,
        is_odd=True,
    )


def test_block_without_transactions_has_zero() -> None:
    assert block_from_json(_node_block()).tx_count == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "lacks 'blockID'"),
        ({"blockID": "ab12"}, "lacks 'block_header'"),
        ({"blockID": "ab12", "block_header": {"raw_data": {"number": 1}}}, "lacks 'timestamp'"),
        (_node_block(number="12"), "number is not a block height"),
        (_node_block(number=-1), "number is not a block height"),
        (_node_block(timestamp=1.5), "timestamp is not milliseconds"),
        ({"blockID": 12, "block_header": {"raw_data": {"number": 1, "timestamp": 2}}}, "blockID"),
    ],
)
def test_block_from_json_names_what_is_wrong(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        block_from_json(data)
