"""The log hub: one encoding per batch whatever the number of followers, a bounded buffer per
follower, and a notice, in order, of the lines a slow follower skipped."""

from __future__ import annotations

import json

import anyio
import pytest

from supervisor_core.daemon._loghub import FOLLOWER_BUDGET, PIECE, LogHub

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def decode(chunk: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in chunk.decode().splitlines()]


def batch(first: int, count: int) -> list[bytes]:
    return [f"line {n}".encode() for n in range(first, first + count)]


async def test_a_batch_is_encoded_once_whatever_the_number_of_followers() -> None:
    hub = LogHub()
    followers = [hub.open() for _ in range(20)]
    for n in range(50):
        hub.publish("web", 0, "out", batch(10 * n, 10))
    assert hub.encoded_batches == 50
    first = decode(await followers[0].next())
    assert first[0] == {"app": "web", "instance": 0, "stream": "out", "line": "line 0"}
    assert len(first) == 500
    for follower in followers[1:]:
        assert decode(await follower.next()) == first


async def test_nothing_is_encoded_for_nobody() -> None:
    hub = LogHub()
    hub.publish("web", 0, "out", batch(0, 3))
    only_api = hub.open(app="api")
    only_err = hub.open(stream="err")
    hub.publish("web", 0, "out", batch(0, 3))
    assert hub.encoded_batches == 0
    hub.publish("api", 1, "err", [b"x\xffy"])
    assert decode(await only_api.next()) == decode(await only_err.next())
    assert hub.encoded_batches == 1


async def test_a_follower_that_does_not_read_holds_at_most_its_budget_and_is_told_in_order() -> (
    None
):
    hub = LogHub(budget=1000)
    follower = hub.open()
    hub.publish("web", 0, "out", batch(0, 5))  # fits
    for n in range(1, 200):  # 199 batches that do not fit any more, mostly
        hub.publish("web", 0, "out", batch(5 * n, 5))
    assert follower.size <= 1000
    first = decode(await follower.next())
    lines = [item["line"] for item in first if "line" in item]
    notices = [item["skipped"] for item in first if "skipped" in item]
    assert lines[:5] == [f"line {n}" for n in range(5)]
    assert len(notices) == 1 and first[-1] == {"skipped": notices[0]}
    assert len(lines) + notices[0] == 1000  # every line: sent, or counted as skipped
    assert follower.skipped == notices[0] > 0
    # Once it has read, it gets lines again, after the notice of what it missed.
    hub.publish("web", 0, "out", batch(1000, 2))
    assert [item["line"] for item in decode(await follower.next())] == ["line 1000", "line 1001"]


async def test_next_waits_for_lines_and_close_stops_the_fan_out() -> None:
    hub = LogHub()
    follower = hub.open()
    got: list[bytes] = []

    async def read() -> None:
        got.append(await follower.next())

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        hub.publish("web", 0, "out", [b"hello"])
    assert decode(got[0]) == [{"app": "web", "instance": 0, "stream": "out", "line": "hello"}]
    hub.close(follower)
    assert hub.followers == 0
    hub.publish("web", 0, "out", [b"again"])
    assert hub.encoded_batches == 1


async def test_followers_that_fell_behind_cost_no_encoding() -> None:
    hub = LogHub(budget=1000)
    stuck = [hub.open() for _ in range(20)]
    for n in range(100):
        hub.publish("web", 0, "out", batch(5 * n, 5))
    encoded = hub.encoded_batches
    assert encoded < 100  # only while some follower still had room
    for n in range(100, 200):
        hub.publish("web", 0, "out", batch(5 * n, 5))
    assert hub.encoded_batches == encoded
    assert all(follower.skipped > 500 for follower in stuck)


async def test_end_sends_what_waits_then_stopped_and_waits_for_the_followers() -> None:
    hub = LogHub(budget=100)
    behind, reading = hub.open(), hub.open()
    hub.publish("web", 0, "out", batch(0, 1))
    assert decode(await reading.next())[0]["line"] == "line 0"
    hub.publish("web", 0, "out", batch(1, 10))  # over the budget of both: skipped, and told
    ended: list[bool] = []

    async def end() -> None:
        ended.append(await hub.end(timeout=10))

    async with anyio.create_task_group() as tg:
        tg.start_soon(end)
        await anyio.wait_all_tasks_blocked()
        assert decode(await behind.next()) == [
            {"app": "web", "instance": 0, "stream": "out", "line": "line 0"},
            {"skipped": 10},
            {"daemon": "stopped"},
        ]
        assert decode(await reading.next()) == [{"skipped": 10}, {"daemon": "stopped"}]
        assert behind.done and reading.done and not ended
        hub.close(behind)
        hub.close(reading)
    assert ended == [True] and hub.followers == 0
    late = hub.open()  # a follower that comes while the daemon stops ends at once
    assert decode(await late.next()) == [{"daemon": "stopped"}] and late.done


async def test_end_gives_up_on_a_follower_that_never_reads() -> None:
    hub = LogHub()
    hub.open()
    with anyio.fail_after(5):
        assert await hub.end(timeout=0.05) is False


async def test_a_follower_of_one_process_gets_only_that_instance() -> None:
    """``ptm logs ID`` follows one instance, even of an app whose instances share a file."""
    hub = LogHub()
    one = hub.open({"pair": [1]})
    apps = hub.open({"pair": None, "solo": None})
    hub.publish("pair", 0, "out", [b"from 0"])
    hub.publish("other", 0, "out", [b"from other"])
    hub.publish("pair", 1, "out", [b"from 1"])
    hub.publish("solo", 0, "err", [b"from solo"])
    assert [item["line"] for item in decode(await one.next())] == ["from 1"]
    assert [item["line"] for item in decode(await apps.next())] == [
        "from 0",
        "from 1",
        "from solo",
    ]


async def test_a_follower_gets_a_piece_at_a_time_and_stays_behind_until_caught_up() -> None:
    """What was handed to the server counts until handed: a follower that never reads holds
    its budget in the hub and one piece in the server's buffer, not a budget in each."""
    hub = LogHub()
    follower = hub.open()
    wide = [b"x" * 1000 for _ in range(10)]  # about 10 kB a batch once encoded
    published = 0
    while follower.behind_at is None:
        hub.publish("web", 0, "out", wide)
        published += 10
    queued = follower.size
    assert FOLLOWER_BUDGET - 20_000 < queued <= FOLLOWER_BUDGET
    piece = await follower.next()
    assert PIECE <= len(piece) < PIECE + 20_000 and b"skipped" not in piece
    assert follower.size == queued - len(piece)  # room for what was handed, no more
    for _ in range(5):  # still behind: skipped, though there is room again
        hub.publish("web", 0, "out", wide)
    assert follower.size == queued - len(piece)
    rest = b""
    while b"skipped" not in rest:
        rest += await follower.next()
    items = decode(piece + rest)
    lines = [item for item in items if "line" in item]
    assert items[-1] == {"skipped": published + 50 - len(lines)} and follower.size == 0
    assert follower.skipped == published + 50 - len(lines) and follower.behind_at is None
    hub.publish("web", 0, "out", [b"back"])  # caught up: it gets lines again
    assert decode(await follower.next())[0]["line"] == "back"


async def test_lines_skipped_are_counted_for_what_the_follower_follows_only() -> None:
    hub = LogHub(budget=100)
    one = hub.open({"pair": [1]}, stream="out")
    hub.publish("pair", 1, "out", batch(0, 20))  # over its budget: it falls behind
    assert one.behind_at is not None and one.skipped == 20
    hub.publish("pair", 0, "out", batch(0, 7))
    hub.publish("pair", 1, "err", batch(0, 5))
    hub.publish("other", 1, "out", batch(0, 3))
    hub.publish("pair", 1, "out", batch(20, 4))
    assert one.skipped == 24 and hub.skipped == 24
    assert decode(await one.next()) == [{"skipped": 24}]
    hub.close(one)
    assert hub.skipped == 24
