"""The cpu/memory history of each process: seconds ring, minutes ring, closing minutes."""

from __future__ import annotations

import math
import time
from pathlib import Path

import anyio
import pytest

from supervisor_core.daemon._history import HistoryKeeper
from supervisor_core.monitor import (
    MINUTES_KEPT,
    SECONDS_KEPT,
    History,
    MinutePoint,
    TreeSample,
    history_key,
)
from supervisor_core.store import StateStore, StoredApp

KEY = history_key("api", 0)
T0 = 1_700_000_040.0  # the start of a minute (divisible by 60)


def test_seconds_are_kept_by_second_with_gaps_as_none() -> None:
    h = History(clock=lambda: T0 + 4)
    h.record(KEY, 10.0, 1000, at=T0)
    h.record(KEY, 20.0, 2000, at=T0 + 1.5)
    h.record(KEY, None, 3000, at=T0 + 4.2)  # a first sample: no cpu figure yet
    s = h.series(KEY, "second", points=6)
    assert s.step == 1
    assert s.end == int(T0) + 4
    assert s.cpu_percent == [None, 10.0, 20.0, None, None, None]
    assert s.memory_bytes == [None, 1000.0, 2000.0, None, None, 3000.0]


def test_seconds_ring_keeps_ten_minutes_and_forgets_older() -> None:
    h = History()
    for i in range(SECONDS_KEPT + 30):
        h.record(KEY, float(i % 100), 1000 + i, at=T0 + i)
    now = T0 + SECONDS_KEPT + 29
    s = h.series(KEY, "second", now=now)
    assert len(s.cpu_percent) == SECONDS_KEPT
    assert s.memory_bytes[0] == 1000 + 30  # the oldest kept
    assert s.memory_bytes[-1] == 1000 + SECONDS_KEPT + 29
    # Asking for more than is kept gives what is kept.
    assert len(h.series(KEY, "second", points=10_000, now=now).cpu_percent) == SECONDS_KEPT


def test_a_long_silence_blanks_the_whole_ring() -> None:
    h = History()
    h.record(KEY, 5.0, 100, at=T0)
    h.record(KEY, 6.0, 200, at=T0 + 3 * SECONDS_KEPT)
    s = h.series(KEY, "second", now=T0 + 3 * SECONDS_KEPT)
    assert s.memory_bytes[-1] == 200
    assert all(v is None for v in s.memory_bytes[:-1])
    # And the ring as seen later: the old point is out of reach, the newer one too.
    assert all(v is None for v in h.series(KEY, "second", now=T0 + 10 * SECONDS_KEPT).cpu_percent)


def test_a_minute_is_the_mean_cpu_and_the_largest_memory() -> None:
    h = History()
    h.record(KEY, None, 500, at=T0)  # no cpu: not part of the mean
    h.record(KEY, 10.0, 900, at=T0 + 10)
    h.record(KEY, 30.0, 700, at=T0 + 50)
    assert h.close_minutes(now=T0 + 59) == []  # the minute is not over
    h.record(KEY, 1.0, 100, at=T0 + 61)  # a sample of the next minute closes it
    minute = int(T0) // 60
    assert h.close_minutes(now=T0 + 61) == [MinutePoint(KEY, minute, 20.0, 900.0)]
    assert h.close_minutes(now=T0 + 61) == []  # handed out once
    # The next minute is closed by time alone (the process stopped sampling).
    assert h.close_minutes(now=T0 + 125) == [MinutePoint(KEY, minute + 1, 1.0, 100.0)]
    s = h.series(KEY, "minute", points=3, now=T0 + 125)
    assert s.step == 60
    assert s.end == (minute + 1) * 60  # the last closed minute
    assert s.cpu_percent == [None, 20.0, 1.0]
    assert s.memory_bytes == [None, 900.0, 100.0]


def test_a_minute_without_cpu_figures_has_none() -> None:
    h = History()
    h.record(KEY, None, 500, at=T0)
    [point] = h.close_minutes(now=T0 + 60)
    assert point.cpu_percent is None
    assert h.series(KEY, "minute", points=1, now=T0 + 60).cpu_percent == [None]


def test_minutes_loaded_from_the_store_come_back_and_age_out() -> None:
    h = History()
    minute = int(T0) // 60
    h.load((KEY, minute - i, float(i), 1e6 + i) for i in range(MINUTES_KEPT + 5, 0, -1))
    s = h.series(KEY, "minute", now=T0)
    assert len(s.cpu_percent) == MINUTES_KEPT
    assert s.cpu_percent[-1] == 1.0
    assert s.memory_bytes[0] == 1e6 + MINUTES_KEPT
    # A day later nothing of it is left.
    later = h.series(KEY, "minute", now=T0 + 86_400 + 60)
    assert all(v is None for v in later.cpu_percent)


def test_values_are_float32_and_memory_stays_accurate_enough() -> None:
    h = History()
    big = 3 * 1024**3 + 12345  # 3 GiB and change: float32 keeps 24 bits of it
    h.record(KEY, 12.3, big, at=T0)
    s = h.series(KEY, "second", points=1, now=T0)
    assert s.memory_bytes[0] == pytest.approx(big, rel=1e-6)
    assert s.cpu_percent[0] == pytest.approx(12.3, rel=1e-6)


def test_unknown_process_has_an_empty_series_and_retain_forgets() -> None:
    h = History()
    other = history_key("api", 1)
    h.record(KEY, 1.0, 1, at=T0)
    h.record(other, 2.0, 2, at=T0)
    assert len(h) == 2
    h.retain([KEY])
    assert h.keys() == [KEY]
    s = h.series(other, "second", points=4, now=T0)
    assert s.cpu_percent == [None] * 4 and s.memory_bytes == [None] * 4
    assert not any(math.isnan(v) for v in s.cpu_percent if v is not None)


# ---------------------------------------------------------------------------------------------
# state.db: the minutes kept across a restart of the daemon


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stored(name: str) -> StoredApp:
    return StoredApp(
        name=name,
        entry={"name": name, "script": f"{name}.py"},
        base_dir="/srv",
        env_name=None,
        source=None,
        desired="running",
        position=-1,
    )


def sample(cpu: float | None, mem: int) -> TreeSample:
    return TreeSample(cpu_percent=cpu, memory_bytes=mem, pids=(1,), taken_at=0.0)


@pytest.mark.anyio
async def test_store_keeps_replaces_prunes_and_deletes_minutes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        await store.upsert_app(stored("api"))
        await store.upsert_app(stored("web"))
        rows = [("api", 0, m, float(m), 1000.0 + m) for m in range(100, 1300)]  # > one chunk
        rows.append(("web", 1, 150, None, 5.0))
        await store.record_minutes(rows)
        await store.record_minutes([("api", 0, 100, 99.0, 1.0)])  # a minute written again
        kept = await store.minutes(since=0)
        assert len(kept) == 1201
        assert kept[0] == ("api", 0, 100, 99.0, 1.0)
        assert ("web", 1, 150, None, 5.0) in kept
        assert kept == sorted(kept, key=lambda r: (r[0], r[1], r[2]))  # by process, oldest first
        assert await store.prune_minutes(before=200) == 101
        assert min(r[2] for r in await store.minutes(since=0)) == 200
        assert [r[2] for r in await store.minutes(since=1299)] == [1299]
        await store.delete_app("api")
        assert await store.minutes(since=0) == []  # web's minute 150 was pruned too


@pytest.mark.anyio
async def test_minutes_survive_a_new_keeper_on_the_same_file(tmp_path: Path) -> None:
    """What the daemon does: samples, a minute written each minute, a new daemon reads them."""
    path = tmp_path / "state.db"
    now = [T0]
    minute = int(T0) // 60
    async with await StateStore.open(path) as store:
        await store.upsert_app(stored("api"))
        keeper = HistoryKeeper(store, clock=lambda: now[0])
        for i in range(120):  # two minutes of samples, one a second
            now[0] = T0 + i
            keeper.on_sample("api", 0, sample(float(i % 60), 1000 + i))
        now[0] = T0 + 121
        assert await keeper.save_minutes() == 2
        assert await keeper.save_minutes() == 0
        view = keeper.view([{"id": 0, "name": "api", "instance": 0}], "second", points=3)
        [proc] = view["processes"]
        assert proc["second"] == {
            "step": 1,
            "end": int(T0) + 121,
            "cpu_percent": [59.0, None, None],
            "memory_bytes": [1119, None, None],
        }
    async with await StateStore.open(path) as store:
        again = HistoryKeeper(store, clock=lambda: T0 + 200)
        assert await again.load() == 2
        view = again.view([{"id": 0, "name": "api", "instance": 0}], None, points=3)
        [proc] = view["processes"]
        assert proc["minute"] == {
            "step": 60,
            "end": (minute + 2) * 60,
            "cpu_percent": [29.5, 29.5, None],
            "memory_bytes": [1059, 1119, None],
        }
        assert proc["second"]["memory_bytes"] == [None, None, None]  # seconds are not kept
        # A day later the rows are too old: load deletes them.
        later = HistoryKeeper(store, clock=lambda: T0 + 86_400 + 300)
        assert await later.load() == 0
        assert await store.minutes(since=0) == []


@pytest.mark.anyio
async def test_the_keeper_task_writes_each_minute_as_it_turns(tmp_path: Path) -> None:
    """The daemon's history task: just after the minute turns it writes the minute that
    ended and forgets processes that are gone. Its clock is set 1 s before a minute turns."""
    real = time.time()
    offset = (59.0 - real % 60) % 60  # the keeper's "now" is hh:mm:59
    clock = lambda: time.time() + offset  # noqa: E731
    async with await StateStore.open(tmp_path / "state.db") as store:
        await store.upsert_app(stored("api"))
        keeper = HistoryKeeper(store, clock=clock)
        keeper.on_sample("api", 0, sample(4.0, 1000))
        keeper.on_sample("gone", 0, sample(1.0, 10))
        minute = int(clock()) // 60
        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper.run, lambda: [{"name": "api", "instance": 0}])
            with anyio.fail_after(15):
                while True:  # written, then the gone process forgotten
                    if len(keeper.history) == 1 and await store.minutes(since=0):
                        break
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert await store.minutes(since=0) == [
            ("api", 0, minute, 4.0, 1000.0),
            ("gone", 0, minute, 1.0, 10.0),
        ]
        assert keeper.history.keys() == [history_key("api", 0)]  # "gone" is forgotten


@pytest.mark.anyio
async def test_the_store_gives_minutes_a_page_at_a_time(tmp_path: Path) -> None:
    async with await StateStore.open(tmp_path / "state.db") as store:
        for name in ("api", "web"):
            await store.upsert_app(stored(name))
        rows = [
            (name, i, m, 1.0, 2.0) for name in ("api", "web") for i in (0, 1, 10) for m in (5, 6)
        ]
        await store.record_minutes(rows)
        pages: list[list[tuple[str, int, int, float | None, float]]] = []
        after: tuple[str, int, int] | None = None
        while page := await store.minutes(6, after, limit=4):
            pages.append(page)
            after = page[-1][:3]
        assert [len(p) for p in pages] == [4, 2]  # minute 5 is before `since`
        assert [r[:3] for p in pages for r in p] == [
            (name, i, 6) for name in ("api", "web") for i in (0, 1, 10)
        ]  # instance 10 after 1: by number, not text


@pytest.mark.anyio
async def test_reading_back_a_day_of_twenty_processes_holds_one_page(tmp_path: Path) -> None:
    """A daemon restarted after a day: 28,800 minutes. Read all at once (rows, tuples and
    points) they took 14 MB at the peak and 8 MB stayed referenced (aiosqlite's thread keeps
    its last result until the next query): the daemon's RSS stayed 12 MB larger. A page at
    a time, the peak is 1.5 MB and what stays is the rings."""
    import tracemalloc

    now = T0 + 30
    minute = int(now) // 60
    names = [f"app{i}" for i in range(20)]
    async with await StateStore.open(tmp_path / "state.db") as store:
        for name in names:
            await store.upsert_app(stored(name))
        await store.record_minutes(
            [(n, 0, minute - m, 1.5, 1e6) for n in names for m in range(1, MINUTES_KEPT)]
        )
        keeper = HistoryKeeper(store, clock=lambda: now)
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            loaded = await keeper.load()
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert loaded == 20 * (MINUTES_KEPT - 1)
        assert peak - before < 3_000_000, f"{(peak - before) / 1e6:.1f} MB at the peak"
        assert after - before < 1_500_000, f"{(after - before) / 1e6:.1f} MB kept"  # the rings
        last = keeper.history.series(history_key("app19", 0), "minute", points=2, now=now)
        assert last.cpu_percent == [1.5, 1.5]
        assert last.memory_bytes == [1e6, 1e6]
