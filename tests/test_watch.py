"""watch: which paths restart an app (defaults, ignore_watch, its own logs), and real files
changing under a real supervisor: one restart per burst after the debounce, reason watch,
errored apps get a new try, stopped apps stay stopped."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from supervisor_core import Supervisor
from supervisor_core._info import StateEvent
from supervisor_core.config import AppSpec, LogSpec, RestartPolicy, WatchSpec, load_ecosystem
from supervisor_core.drivers import (
    DEFAULT_DRIVERS,
    DEFAULT_IGNORE,
    WATCH_DEBOUNCE,
    WatchFilter,
    watch_driver,
)
from tests.helpers import python_app

DEBOUNCE = 0.3
"""Shorter than the default, to keep the tests quick."""

SERVER = """
import time
print("up", flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --------------------------------------------------------------------- which paths count
def make_filter(
    root: Path, *ignore: str, paths: tuple[Path, ...] | None = None, logs: tuple[Path, ...] = ()
) -> WatchFilter:
    return WatchFilter.build(
        paths if paths is not None else (root,),
        cwd=root,
        ignore=(*DEFAULT_IGNORE, *ignore),
        log_files=logs,
    )


@pytest.mark.parametrize(
    "relative",
    [
        "node_modules/left-pad/index.js",
        ".git/index",
        "__pycache__/app.cpython-311.pyc",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "app.pyc",
        ".venv/lib/python3.11/site-packages/x.py",
        "venv/bin/activate",
        "logs/today.txt",
        "server.log",
        "data/point-tron.db",
        "data/point-tron.db-wal",
        "data/point-tron.db-shm",
        "data/point-tron.db-journal",
        "app.py~",
        ".#app.py",
        ".mypy_cache/3.11/x.json",
        "run/app.pid",
    ],
)
def test_ignored_by_default(tmp_path: Path, relative: str) -> None:
    assert not make_filter(tmp_path).wanted(tmp_path / relative)


@pytest.mark.parametrize(
    "relative", ["app.py", "pkg/mod.py", "config.toml", "templates/index.html", "data/seed.json"]
)
def test_watched_by_default(tmp_path: Path, relative: str) -> None:
    assert make_filter(tmp_path).wanted(tmp_path / relative)


def test_ignore_watch_adds_to_the_defaults(tmp_path: Path) -> None:
    keep = make_filter(tmp_path, "data", "*.json", "static/build", "**/generated", "/etc/x")
    assert not keep.wanted(tmp_path / "data/seed.csv")  # a name, at any depth
    assert not keep.wanted(tmp_path / "pkg/data/x.py")
    assert not keep.wanted(tmp_path / "config.json")
    assert not keep.wanted(tmp_path / "static/build/app.js")  # a path from cwd, and below
    assert keep.wanted(tmp_path / "other/static/build/app.js")  # not from cwd
    assert not keep.wanted(tmp_path / "a/b/generated/out.py")
    assert not keep.wanted(tmp_path / "node_modules/x.js")  # the defaults still apply
    assert keep.wanted(tmp_path / "static/app.js")
    assert keep.wanted(tmp_path / "app.py")


def test_names_are_matched_below_the_watched_folder_only(tmp_path: Path) -> None:
    project = tmp_path / "logs" / "project"  # the app itself lives under a "logs" folder
    project.mkdir(parents=True)
    keep = make_filter(project)
    assert keep.wanted(project / "app.py")
    assert not keep.wanted(project / "logs" / "x.txt")


def test_the_apps_own_log_files_are_ignored(tmp_path: Path) -> None:
    out, err = tmp_path / "out" / "app-out.txt", tmp_path / "out" / "app-err.txt"
    keep = make_filter(tmp_path, logs=(out, err))
    assert not keep.wanted(out)
    assert not keep.wanted(err)
    assert not keep.wanted(tmp_path / "out" / "app-out-1.txt")  # instance 1, merge_logs off
    assert not keep.wanted(tmp_path / "out" / "app-out__20250101T000000Z-1.txt.gz")  # rotated
    assert keep.wanted(tmp_path / "out" / "app-outline.txt")


def test_a_named_file_is_watched_through_its_folder(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "settings.db").write_text("")
    (tmp_path / "main.py").write_text("")
    keep = make_filter(
        tmp_path,
        paths=(tmp_path / "src", tmp_path / "main.py", tmp_path / "settings.db"),
    )
    assert list(keep.sources()) == [((tmp_path / "src",), True), ((tmp_path,), False)]
    assert keep.wanted(tmp_path / "main.py")
    assert keep.wanted(tmp_path / "settings.db")  # named: watched despite "*.db"
    assert not keep.wanted(tmp_path / "other.py")  # a sibling of a named file
    assert keep.wanted(tmp_path / "src" / "x.py")


def test_ecosystem_watch_and_ignore_watch(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    (tmp_path / "ecosystem.toml").write_text(
        '[[apps]]\nname = "api"\nscript = "app.py"\nwatch = true\nignore_watch = ["data"]\n'
        'out_file = "api.out"\n'
    )
    spec = load_ecosystem(tmp_path / "ecosystem.toml").app("api")
    keep = WatchFilter.for_app(spec)
    assert keep.folders == (tmp_path,)
    assert keep.wanted(tmp_path / "app.py")
    assert not keep.wanted(tmp_path / "data" / "cache.json")  # ignore_watch
    assert not keep.wanted(tmp_path / ".git" / "HEAD")  # defaults
    assert not keep.wanted(tmp_path / "api.out")  # its own log


def test_ptm_home_inside_the_watched_folder_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "[ptm]"))
    spec = watched_app(tmp_path / "app")
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "app" / ".ptm[1]"))
    keep = WatchFilter.for_app(spec)
    assert not keep.wanted(tmp_path / "app" / ".ptm[1]" / "dump.toml")
    assert keep.wanted(tmp_path / "app" / ".ptm1" / "dump.toml")
    assert keep.wanted(tmp_path / "app" / "dump.toml")


def test_watch_driver_is_a_default_driver() -> None:
    assert watch_driver in DEFAULT_DRIVERS
    assert WATCH_DEBOUNCE == 0.5


# --------------------------------------------------------------------- real changes
class Events:
    """Every state event, with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, StateEvent]] = []
        self._changed = anyio.Event()

    def add(self, event: StateEvent) -> None:
        self.seen.append((anyio.current_time(), event))
        self._changed.set()
        self._changed = anyio.Event()

    def restarts(self, app: str) -> list[float]:
        """When each restart with reason watch began (the old process starts stopping)."""
        return [
            at
            for at, event in self.seen
            if event.app == app and event.reason == "watch" and event.previous != "stopping"
        ]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while not predicate():
                await self._changed.wait()

    async def quiet(self, app: str, count: int, seconds: float) -> None:
        """Check that no restart beyond ``count`` comes within ``seconds``."""
        with anyio.move_on_after(seconds):
            await self.wait_for(lambda: len(self.restarts(app)) > count, timeout=seconds + 1)
        assert len(self.restarts(app)) == count


@asynccontextmanager
async def supervising(
    *specs: AppSpec, start: bool = True, notices: list[str] | None = None
) -> AsyncIterator[tuple[Supervisor, Events]]:
    """A supervisor whose only driver is the watch driver; yields once every watch is set."""
    watching = 0
    ready = anyio.Event()

    def on_watching() -> None:
        nonlocal watching
        watching += 1
        if watching == len(specs):
            ready.set()

    driver = functools.partial(watch_driver, debounce=DEBOUNCE, on_watching=on_watching)
    events = Events()
    async with (
        Supervisor(
            write_logs=False,
            drivers=[driver],
            on_notice=notices.append if notices is not None else None,
        ) as sup,
        sup.subscribe() as stream,
        anyio.create_task_group() as tg,
    ):

        async def record() -> None:
            async for event in stream:
                events.add(event)

        tg.start_soon(record)
        for spec in specs:
            await sup.add(spec, start=start)
        with anyio.fail_after(10):
            await ready.wait()
        yield sup, events
        tg.cancel_scope.cancel()


def watched_app(
    folder: Path,
    name: str = "web",
    code: str = SERVER,
    *,
    paths: tuple[Path, ...] | None = None,
    ignore: tuple[str, ...] = (),
    restart: RestartPolicy | None = None,
) -> AppSpec:
    folder.mkdir(exist_ok=True)
    spec = python_app(folder, name, code, restart=restart)
    return dataclasses.replace(
        spec, watch=WatchSpec(paths=paths if paths is not None else (folder,), ignore=ignore)
    )


async def online(sup: Supervisor, name: str) -> None:
    await sup.wait_until(
        lambda infos: all(i.status == "online" for i in infos if i.name == name), timeout=10
    )


@pytest.mark.anyio
async def test_a_change_restarts_once_after_the_debounce(tmp_path: Path) -> None:
    spec = watched_app(tmp_path / "app")
    notices: list[str] = []
    async with supervising(spec, notices=notices) as (sup, events):
        [before] = sup.info("web")
        changed_at = anyio.current_time()
        (tmp_path / "app" / "handlers.py").write_text("VERSION = 2\n")
        await events.wait_for(lambda: len(events.restarts("web")) == 1)
        await online(sup, "web")
        [after] = sup.info("web")
        assert events.restarts("web")[0] - changed_at >= DEBOUNCE
        assert after.last_restart_reason == "watch"
        assert after.restarts == 1
        assert after.pid not in (None, before.pid)
        assert "web: handlers.py changed: restarting" in notices  # says what set it off
        await events.quiet("web", 1, 3 * DEBOUNCE)


@pytest.mark.anyio
async def test_a_burst_of_changes_restarts_once(tmp_path: Path) -> None:
    spec = watched_app(tmp_path / "app")
    async with supervising(spec) as (sup, events):
        for round_ in range(12):  # like a checkout: many files, each well within the debounce
            (tmp_path / "app" / f"module_{round_ % 4}.py").write_text(f"X = {round_}\n")
            (tmp_path / "app" / "pkg").mkdir(exist_ok=True)
            (tmp_path / "app" / "pkg" / f"m{round_}.py").write_text("")
            await anyio.sleep(DEBOUNCE / 15)
        last_change = anyio.current_time()
        await events.wait_for(lambda: len(events.restarts("web")) == 1)
        assert events.restarts("web")[0] >= last_change + DEBOUNCE * 0.9
        await events.quiet("web", 1, 3 * DEBOUNCE)
        [info] = sup.info("web")
        assert info.restarts == 1 and info.last_restart_reason == "watch"


@pytest.mark.anyio
async def test_ignored_paths_do_not_restart(tmp_path: Path) -> None:
    app = tmp_path / "app"
    spec = watched_app(app, ignore=("data", "*.tmp"))
    async with supervising(spec) as (sup, events):
        for relative in (
            "node_modules/left-pad/index.js",
            "__pycache__/web.cpython-311.pyc",
            "logs/web-out.log",
            "web.log",
            "data/cache.json",  # ignore_watch
            "upload.tmp",  # ignore_watch
            "state.db-wal",
            ".git/index",
        ):
            path = app / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x")
        await events.quiet("web", 0, 3 * DEBOUNCE)
        # The watch is alive: a real change still restarts, once.
        (app / "web.py").write_text(SERVER + "\n# edited\n")
        await events.wait_for(lambda: len(events.restarts("web")) == 1)
        await events.quiet("web", 1, 3 * DEBOUNCE)
        [info] = sup.info("web")
        assert info.last_restart_reason == "watch"


@pytest.mark.anyio
async def test_a_named_file_deleted_and_created_again(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    settings = app / "settings.py"
    settings.write_text("A = 1\n")
    spec = watched_app(app, paths=(settings,))
    async with supervising(spec) as (sup, events):
        (app / "other.py").write_text("")  # a sibling: not watched
        await events.quiet("web", 0, 3 * DEBOUNCE)
        settings.unlink()
        settings.write_text("A = 2\n")  # deleted and created again: one burst
        await events.wait_for(lambda: len(events.restarts("web")) == 1)
        await events.quiet("web", 1, 3 * DEBOUNCE)
        await online(sup, "web")
        # An editor's save: a new file renamed over the old one. Still watched.
        temporary = app / ".settings.py.swp"
        temporary.write_text("A = 3\n")
        os.replace(temporary, settings)
        await events.wait_for(lambda: len(events.restarts("web")) == 2)
        await events.quiet("web", 2, 3 * DEBOUNCE)
        [info] = sup.info("web")
        assert info.restarts == 2 and info.last_restart_reason == "watch"


CRASHES_UNLESS_FIXED = """
import pathlib, sys, time
if pathlib.Path("mode.txt").read_text().strip() != "fixed":
    sys.exit(3)
print("up", flush=True)
while True:
    time.sleep(1)
"""


@pytest.mark.anyio
async def test_an_errored_app_gets_one_try_per_change(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "mode.txt").write_text("broken\n")
    policy = RestartPolicy(max_restarts=2, min_uptime=5.0, restart_delay=0.0)
    spec = watched_app(app, code=CRASHES_UNLESS_FIXED, restart=policy)
    async with supervising(spec) as (sup, events):
        await sup.wait_until(lambda infos: infos[0].status == "errored", timeout=10)
        [errored] = sup.info("web")
        assert errored.restarts == 2
        # Still broken: one new try, straight back to errored (no new crash loop).
        (app / "mode.txt").write_text("still broken\n")
        await events.wait_for(lambda: len(events.restarts("web")) == 1)
        await sup.wait_until(lambda infos: infos[0].status == "errored", timeout=10)
        await events.quiet("web", 1, 3 * DEBOUNCE)
        [again] = sup.info("web")
        assert again.restarts == 3 and again.last_restart_reason == "watch"
        # Fixed: the next change brings it back.
        (app / "mode.txt").write_text("fixed\n")
        await events.wait_for(lambda: len(events.restarts("web")) == 2)
        await online(sup, "web")
        [fixed] = sup.info("web")
        assert fixed.last_restart_reason == "watch" and fixed.pid is not None


@pytest.mark.anyio
async def test_a_stopped_app_stays_stopped(tmp_path: Path) -> None:
    app = tmp_path / "app"
    running = watched_app(app, "web")
    stopped = watched_app(app, "parked")
    async with supervising(running, stopped, start=False) as (sup, events):
        await sup.start("web")
        (app / "shared.py").write_text("")
        await events.wait_for(lambda: len(events.restarts("web")) == 1)
        # Both drivers saw the same change with the same debounce; give the other one time.
        await events.quiet("parked", 0, 2 * DEBOUNCE)
        [parked] = sup.info("parked")
        assert parked.status == "stopped" and parked.restarts == 0


@pytest.mark.anyio
async def test_each_watcher_brings_its_own_worker_thread(tmp_path: Path) -> None:
    """A watcher holds a worker thread while it runs; it adds a token to anyio's default
    limiter for it, so forty watched apps still leave threads for everyone else."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    before = limiter.total_tokens
    one = watched_app(tmp_path / "one", "one")
    two = watched_app(tmp_path / "two", "two")
    settings = tmp_path / "two" / "settings.toml"
    settings.write_text("")
    two = dataclasses.replace(two, watch=WatchSpec(paths=(tmp_path / "one", settings)))
    async with supervising(one, two):
        assert limiter.total_tokens == before + 3  # "one": a folder; "two": a folder, a file
    assert limiter.total_tokens == before


@pytest.mark.anyio
async def test_stopping_does_not_wait_for_the_watcher_thread(tmp_path: Path) -> None:
    spec = watched_app(tmp_path / "app")
    with anyio.fail_after(3):  # the watcher's own timeout is 5 s
        async with supervising(spec) as (sup, _events):
            await sup.delete("web")


@pytest.mark.anyio
async def test_app_logs_in_the_watched_folder_do_not_restart(tmp_path: Path) -> None:
    """A real supervisor writing the app's log files inside the watched folder."""
    app = tmp_path / "app"
    app.mkdir()
    logs = LogSpec(out_file=app / "web-out.txt", error_file=app / "web-err.txt")
    chatty = f"""
import sys, time
for n in range(1000000):
    print("line", n, flush=True)
    print("warning", n, file=sys.stderr, flush=True)
    time.sleep({DEBOUNCE * 1.5})  # quiet long enough for each write to count as a change
"""
    spec = dataclasses.replace(watched_app(app, code=chatty), logs=logs)
    ready = anyio.Event()
    driver = functools.partial(watch_driver, debounce=DEBOUNCE, on_watching=ready.set)
    async with Supervisor(write_logs=True, drivers=[driver]) as sup:
        async with sup.subscribe() as stream:
            await sup.add(spec)
            await ready.wait()
            with anyio.move_on_after(8 * DEBOUNCE):
                async for event in stream:
                    assert event.reason != "watch", event
        assert (app / "web-out.txt").read_text().count("line") >= 3
        [info] = sup.info("web")
        assert info.restarts == 0
