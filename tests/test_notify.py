"""Alerts ([[notify]]): which state changes are alerts, the JSON they carry, and delivery to
a real local webhook or command while real apps crash, hit their memory limit, turn unhealthy
and restart; retries, dead and hanging receivers, bounded queues; state.db keeps entries."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream, TaskStatus

from supervisor_core import StateEvent, Supervisor, __version__
from supervisor_core.config import MemoryPolicy, NotifySpec, RestartPolicy, load_ecosystem
from supervisor_core.errors import ConfigError, StateError
from supervisor_core.notify import (
    Notifier,
    alert_kinds,
    iso_utc,
    run_command,
    specs_from_json,
    specs_to_json,
)
from supervisor_core.store import StateStore
from supervisor_core.store._db import MIGRATIONS
from tests.helpers import alive, eventually, python_app

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
FIELDS = {
    "event",
    "app",
    "instance",
    "status",
    "previous",
    "pid",
    "exit_code",
    "signal",
    "reason",
    "timestamp",
    "host",
    "ptm_version",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------------------ a webhook
class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records every POSTed JSON body. ``mode``:
    ``ok`` answers 204, ``fail`` answers 500, ``hang`` reads the request and never answers."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.headers: list[bytes] = []
        self.port = 0
        self._changed = anyio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += await stream.receive()
                head, _, body = data.partition(b"\r\n\r\n")
                match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                length = int(match.group(1)) if match else 0
                while len(body) < length:
                    body += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            self.requests += 1
            self._wake()
            if self.mode == "hang":
                await anyio.sleep_forever()
            if self.mode == "fail":
                await stream.send(b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\ndown")
                return
            self.headers.append(head)
            self.bodies.append(json.loads(body))
            self._wake()
            await stream.send(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until ``count`` bodies have arrived (requests, in ``hang``/``fail`` mode)."""
        with anyio.fail_after(timeout):
            while (self.requests if self.mode != "ok" else len(self.bodies)) < count:
                await self._changed.wait()
        return self.bodies


@asynccontextmanager
async def receiving(mode: str = "ok") -> AsyncIterator[Receiver]:
    receiver = Receiver(mode)
    async with anyio.create_task_group() as tg:
        await tg.start(receiver.serve)
        yield receiver
        tg.cancel_scope.cancel()


def dead_url() -> str:
    """A 127.0.0.1 address where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/alerts"


def entry(*events: str, webhook: str | None = None, **kw: Any) -> NotifySpec:
    return NotifySpec(events=frozenset(events), webhook=webhook, **kw)


@asynccontextmanager
async def supervised(notifier: Notifier, **kw: Any) -> AsyncIterator[Supervisor]:
    """A Supervisor with ``notifier`` listening to it (the notifier outlives it)."""
    async with anyio.create_task_group() as tg, Supervisor(write_logs=False, **kw) as sup:
        await tg.start(notifier.run, sup)
        yield sup


CRASH_ONCE = """
    import os, pathlib, sys, time
    flag = pathlib.Path({flag!r})
    print(os.getpid(), flush=True)
    if not flag.exists():
        flag.write_text("x")
        sys.exit(3)
    time.sleep(60)
"""


def crash_once(tmp_path: Path, name: str, **kw: Any) -> Any:
    flag = tmp_path / f"{name}.crashed"
    return python_app(tmp_path, name, CRASH_ONCE.format(flag=str(flag)), **kw)


# ------------------------------------------------------------------------------ which events
def ev(status: str, previous: str, reason: str | None = None, **kw: Any) -> StateEvent:
    return StateEvent(
        app="web", instance=0, status=status, previous=previous, timestamp=1.0, reason=reason, **kw
    )


@pytest.mark.parametrize(
    ("event", "kinds"),
    [
        (ev("waiting restart", "online", "crash", exit_code=1), ("crash",)),
        (ev("waiting restart", "online", "crash", exit_code=0), ("crash",)),
        (ev("waiting restart", "online", "crash", signal=9), ("crash",)),
        (ev("waiting restart", "launching", "crash"), ("crash",)),  # could not be spawned
        (ev("errored", "online", "errored", exit_code=1), ("crash", "errored")),
        (ev("errored", "stopping", "errored"), ("errored",)),  # gave up after health
        (ev("stopped", "online", "exit", exit_code=0), ()),  # a clean finish
        (ev("stopped", "online", "exit", exit_code=4), ("crash",)),  # autorestart off
        (ev("stopped", "online", "exit", signal=15), ("crash",)),
        (ev("waiting restart", "stopping", "not ready"), ("crash",)),
        (ev("waiting restart", "stopping", "health"), ()),  # the health alert came before
        (ev("stopped", "stopping", "stop"), ()),
        (ev("stopping", "online", "memory", pid=5), ("memory",)),
        (ev("stopping", "online", "health", pid=5), ("health",)),
        (ev("stopping", "online", "stop", pid=5), ()),
        (ev("stopping", "online", "manual", pid=5), ()),
        (ev("launching", "stopped"), ()),  # a first start
        (ev("launching", "waiting restart", "crash"), ("restart",)),
        (ev("launching", "stopping", "manual"), ("restart",)),
        (ev("launching", "stopping", "cron"), ("restart",)),
        (ev("online", "online", "reload", pid=6), ("restart",)),
        (ev("online", "launching", pid=6), ()),
        (ev("online", "launching", "health check passed", pid=6), ()),
    ],
)
def test_alert_kinds(event: StateEvent, kinds: tuple[str, ...]) -> None:
    assert alert_kinds(event) == kinds


def test_an_exit_code_in_stop_exit_codes_is_no_crash() -> None:
    event = ev("stopped", "online", "exit", exit_code=4)
    assert alert_kinds(event, frozenset({4})) == ()
    assert alert_kinds(event, frozenset({5})) == ("crash",)


def test_timestamps_are_iso_8601_utc() -> None:
    assert iso_utc(0.25) == "1970-01-01T00:00:00.250Z"


# ------------------------------------------------------------------------------ webhooks
async def test_a_webhook_receives_the_crash_event_json(tmp_path: Path) -> None:
    spec = crash_once(tmp_path, "web")
    notices: list[str] = []
    async with receiving() as hook:
        notifier = Notifier([entry("crash", webhook=hook.url)], on_notice=notices.append)
        async with supervised(notifier) as sup:
            before = time.time()
            await sup.add(spec)
            [body] = await hook.wait_for(1)
            first_run = sup.runs("web")[0]
    assert set(body) == FIELDS
    assert body == {
        "event": "crash",
        "app": "web",
        "instance": 0,
        "status": "waiting restart",
        "previous": "online",
        "pid": first_run.pid,
        "exit_code": 3,
        "signal": None,
        "reason": "crash",
        "timestamp": body["timestamp"],
        "host": socket.gethostname(),
        "ptm_version": __version__,
    }
    assert first_run.pid is not None and first_run.exit_code == 3
    stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).timestamp()
    assert before <= stamp <= time.time()
    assert body["timestamp"].endswith("Z")
    assert b"content-type: application/json" in hook.headers[0].lower()
    assert not [n for n in notices if "not delivered" in n]


async def test_errored_and_every_crash_before_it(tmp_path: Path) -> None:
    spec = python_app(
        tmp_path,
        "flaky",
        "import sys; sys.exit(1)",
        restart=RestartPolicy(max_restarts=1, min_uptime=10.0),
    )
    async with receiving() as errored, receiving() as crashes:
        notifier = Notifier(
            [entry("errored", webhook=errored.url), entry("crash", webhook=crashes.url)],
            on_notice=print,
        )
        async with supervised(notifier) as sup:
            await sup.add(spec)
            [body] = await errored.wait_for(1)
            bodies = await crashes.wait_for(2)
            runs = sup.runs("flaky")
    assert body["event"] == "errored"
    assert (body["status"], body["previous"], body["reason"]) == ("errored", "online", "errored")
    assert (body["exit_code"], body["pid"]) == (1, runs[-1].pid)
    assert [b["status"] for b in bodies] == ["waiting restart", "errored"]
    assert [b["pid"] for b in bodies] == [r.pid for r in runs]
    assert len(errored.bodies) == 1 and len(crashes.bodies) == 2


async def test_memory_then_restart(tmp_path: Path) -> None:
    flag = tmp_path / "hogged"
    code = f"""
        import os, pathlib, time
        flag = pathlib.Path({str(flag)!r})
        if not flag.exists():
            flag.write_text("x")
            blob = b"x" * (120 * 1024 * 1024)
        print("steady", flush=True)
        time.sleep(60)
    """
    spec = python_app(
        tmp_path,
        "hog",
        code,
        memory=MemoryPolicy(max_memory_restart=60 * MIB, memory_check_interval=0.1),
    )
    async with receiving() as memory, receiving() as restarts:
        notifier = Notifier(
            [entry("memory", webhook=memory.url), entry("restart", webhook=restarts.url)],
            on_notice=print,
        )
        async with supervised(notifier) as sup:
            await sup.add(spec)
            [hit] = await memory.wait_for(1)
            [restart] = await restarts.wait_for(1)
            hog_pid = sup.runs("hog")[0].pid
    assert (hit["event"], hit["status"], hit["previous"]) == ("memory", "stopping", "online")
    assert (hit["reason"], hit["pid"]) == ("memory", hog_pid)
    assert (restart["event"], restart["status"], restart["reason"]) == (
        "restart",
        "launching",
        "memory",
    )
    assert restart["pid"] is None


async def test_health_and_manual_restart_but_not_the_first_start(tmp_path: Path) -> None:
    spec = python_app(tmp_path, "api", "import time\nprint('up', flush=True)\ntime.sleep(60)")
    async with receiving() as health, receiving() as restarts:
        notifier = Notifier(
            [entry("health", webhook=health.url), entry("restart", webhook=restarts.url)],
            on_notice=print,
        )
        async with supervised(notifier) as sup:
            [info] = await sup.add(spec)
            await sup.report_unhealthy("api", 0, "HTTP 503 from /health")
            [body] = await health.wait_for(1)
            await sup.wait_until(lambda infos: infos[0].status == "online", timeout=10)
            await sup.restart("api")
            bodies = await restarts.wait_for(2)
    assert (body["event"], body["status"], body["reason"]) == ("health", "stopping", "health")
    assert body["pid"] == info.pid
    # The first start is no restart: the first restart alert is the health one.
    assert [(b["event"], b["reason"]) for b in bodies] == [
        ("restart", "health"),
        ("restart", "manual"),
    ]


async def test_the_apps_filter(tmp_path: Path) -> None:
    trigger = tmp_path / "crash-a"
    watched = python_app(
        tmp_path,
        "a",
        f"""
        import pathlib, sys, time
        trigger = pathlib.Path({str(trigger)!r})
        while not trigger.exists():
            time.sleep(0.02)
        trigger.unlink()
        sys.exit(5)
        """,
    )
    ignored = crash_once(tmp_path, "b")
    async with receiving() as hook:
        notifier = Notifier(
            [entry("crash", webhook=hook.url, apps=frozenset({"a"}))], on_notice=print
        )
        async with supervised(notifier) as sup:
            await sup.add(watched)
            async with sup.subscribe() as events:
                await sup.add(ignored)
                async for event in events:
                    if event.app == "b" and event.status == "waiting restart":
                        break
            trigger.write_text("now")
            await hook.wait_for(1)
    # One queue per entry, in order: had b's crash been sent, it would have come first.
    assert [(b["app"], b["exit_code"]) for b in hook.bodies] == [("a", 5)]


async def test_a_dead_webhook_is_retried_then_given_up_while_supervision_goes_on(
    tmp_path: Path,
) -> None:
    spec = python_app(
        tmp_path,
        "looper",
        "import sys, time\ntime.sleep(0.05)\nsys.exit(1)",
        restart=RestartPolicy(restart_delay=0.2, min_uptime=0.0),
    )
    url = dead_url()
    notices: list[str] = []
    notifier = Notifier(
        [entry("crash", webhook=url)],
        on_notice=notices.append,
        retry_delays=(0.5, 0.5, 0.5),
        drain_timeout=0.1,
    )
    crashes: list[float] = []
    async with supervised(notifier) as sup, sup.subscribe() as events:
        await sup.add(spec)
        with anyio.fail_after(20):
            async for event in events:
                if event.status == "waiting restart":
                    crashes.append(time.monotonic())
                if any("giving up" in n for n in notices) and len(crashes) >= 6:
                    break
    first = [n for n in notices if "crash alert for looper:0" in n]
    assert len([n for n in first if "not delivered (attempt" in n]) >= 3
    assert "attempt 1 of 4" in first[0] and "next try in 0.5s" in first[0]
    assert url in first[0]
    assert any("not delivered after 4 attempts" in n and "giving up" in n for n in first)
    # The first alert took 1.5 s of retries; restarts went on every ~0.25 s meanwhile.
    gaps = [b - a for a, b in itertools.pairwise(crashes)]
    assert gaps and max(gaps) < 1.0, gaps


async def test_a_hanging_webhook_does_not_delay_the_other_entries(tmp_path: Path) -> None:
    spec = crash_once(tmp_path, "web")
    notices: list[str] = []
    async with receiving("hang") as stuck, receiving() as hook:
        notifier = Notifier(
            [entry("crash", webhook=stuck.url), entry("crash", webhook=hook.url)],
            on_notice=notices.append,
            webhook_timeout=30.0,
            drain_timeout=0.1,
        )
        async with supervised(notifier) as sup:
            await sup.add(spec)
            await stuck.wait_for(1)
            started = time.monotonic()
            await hook.wait_for(1, timeout=5)
            assert time.monotonic() - started < 2.0
            assert stuck.bodies == []  # still waiting for its answer
    assert any("not delivered before shutting down" in n for n in notices)


async def test_a_failing_webhook_answer_is_in_the_notice(tmp_path: Path) -> None:
    spec = crash_once(tmp_path, "web")
    notices: list[str] = []
    async with receiving("fail") as hook:
        notifier = Notifier(
            [entry("crash", webhook=hook.url)], on_notice=notices.append, retry_delays=(0.0,)
        )
        async with supervised(notifier) as sup:
            await sup.add(spec)
            await hook.wait_for(2)
            await eventually(lambda: any("giving up" in n for n in notices))
    assert "HTTP 500 Oops: down" in notices[0]


async def test_the_queue_of_an_entry_is_bounded_dropping_the_oldest() -> None:
    notices: list[str] = []
    async with receiving() as hook:
        notifier = Notifier(
            [entry("crash", webhook=hook.url)], on_notice=notices.append, max_queue=2
        )
        async with Supervisor(write_logs=False) as sup:
            for instance in range(5):  # queued before any worker runs
                crash = ev("waiting restart", "online", "crash", exit_code=1)
                notifier.dispatch(sup, dataclasses.replace(crash, instance=instance))
            async with anyio.create_task_group() as tg:
                await tg.start(notifier.run, sup)
                await hook.wait_for(2)
                tg.cancel_scope.cancel()
    assert [b["instance"] for b in hook.bodies] == [3, 4]
    dropped = [n for n in notices if "dropped the oldest" in n]
    assert len(dropped) == 3
    assert "crash alert for web:0" in dropped[0] and "3 dropped so far" in dropped[-1]


# ------------------------------------------------------------------------------ commands
RECORD = """
import json, os, pathlib, sys
record = {
    "stdin": json.loads(sys.stdin.read()),
    "event": os.environ["PTM_EVENT"],
    "app": os.environ["PTM_APP_NAME"],
    "instance": os.environ["PTM_INSTANCE"],
    "cwd": os.getcwd(),
}
with open("alerts.jsonl", "a") as out:
    out.write(json.dumps(record) + "\\n")
print("mailed to admin@example.com")
"""


async def test_a_command_gets_the_event_json_on_stdin(tmp_path: Path) -> None:
    (tmp_path / "record.py").write_text(RECORD)
    spec = crash_once(tmp_path, "web")
    notices: list[str] = []
    log = tmp_path / "alerts.jsonl"
    notifier = Notifier(
        [NotifySpec(events=frozenset({"crash"}), command=(sys.executable, "record.py"))],
        on_notice=notices.append,
        cwd=tmp_path,
    )
    async with supervised(notifier) as sup:
        await sup.add(spec)
        await eventually(lambda: any("mailed" in n for n in notices))
        pid = sup.runs("web")[0].pid
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert set(record["stdin"]) == FIELDS
    assert (record["stdin"]["event"], record["stdin"]["pid"], record["stdin"]["exit_code"]) == (
        "crash",
        pid,
        3,
    )
    assert (record["event"], record["app"], record["instance"]) == ("crash", "web", "0")
    assert Path(record["cwd"]) == tmp_path
    assert notices == [
        f"notify[0] command {sys.executable} record.py: crash alert for web:0: "
        "mailed to admin@example.com"
    ]


async def test_a_failing_command_is_retried_with_its_output_in_the_notices(
    tmp_path: Path,
) -> None:
    spec = crash_once(tmp_path, "web")
    notices: list[str] = []
    command = (sys.executable, "-c", "import sys; print('smtp: connection refused'); sys.exit(2)")
    notifier = Notifier(
        [NotifySpec(events=frozenset({"crash"}), command=command)],
        on_notice=notices.append,
        retry_delays=(0.0, 0.0),
    )
    async with supervised(notifier) as sup:
        await sup.add(spec)
        await eventually(lambda: any("giving up" in n for n in notices))
    assert len(notices) == 3
    assert "(attempt 1 of 3): exit code 2; output: smtp: connection refused" in notices[0]
    assert "not delivered after 3 attempts: exit code 2" in notices[2]


async def test_a_command_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    outcome = await run_command([sys.executable, "-c", code], b"{}", timeout=1.0)
    assert time.monotonic() - started < 5
    assert not outcome.ok
    assert outcome.detail == "still running after 1s: killed"
    left = [int(pid) for pid in pids.read_text().split()]
    await eventually(lambda: not any(alive(pid) for pid in left))


async def test_a_missing_command_says_so(tmp_path: Path) -> None:
    outcome = await run_command(["no-such-mailer-here"], b"{}", cwd=tmp_path)
    assert not outcome.ok
    assert outcome.detail == (
        f"cannot run 'no-such-mailer-here' in {str(tmp_path)!r}: No such file or directory"
    )


# ------------------------------------------------------------------------------ ptm run
async def test_ptm_run_delivers_the_errored_alert_before_it_exits(tmp_path: Path) -> None:
    (tmp_path / "flaky.py").write_text("import sys\nsys.exit(1)\n")
    async with receiving() as hook:
        (tmp_path / "ecosystem.toml").write_text(
            f"""
[[apps]]
name = "flaky"
script = "flaky.py"
max_restarts = 1
min_uptime = "10s"

[[notify]]
events = ["crash", "errored"]
webhook = "{hook.url}"
"""
        )
        with anyio.fail_after(30):
            done = await anyio.run_process(
                [sys.executable, "-m", "supervisor_core.cli", "run", "ecosystem.toml"],
                cwd=tmp_path,
                check=False,
            )
    assert done.returncode == 1, done.stdout
    assert [(b["event"], b["status"]) for b in hook.bodies] == [
        ("crash", "waiting restart"),
        ("crash", "errored"),
        ("errored", "errored"),
    ]


# ------------------------------------------------------------------------------ stored entries
def test_entries_round_trip_through_json(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    (tmp_path / "ecosystem.toml").write_text(
        """
[[apps]]
name = "web"
script = "app.py"

[[notify]]
events = ["restart", "crash"]
apps = ["web"]
webhook = "http://127.0.0.1:9000/alerts"

[[notify]]
events = ["errored"]
command = "mail -s 'ptm alert' admin@example.com"
"""
    )
    specs = load_ecosystem(tmp_path / "ecosystem.toml").notify
    text = specs_to_json(specs)
    assert json.loads(text)[1] == {
        "events": ["errored"],
        "apps": None,
        "webhook": None,
        "command": ["mail", "-s", "ptm alert", "admin@example.com"],
    }
    assert json.loads(text)[0]["events"] == ["crash", "restart"]
    assert specs_from_json(text) == specs
    assert specs_to_json(()) == "[]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "f.toml: stored notify entries are not JSON"),
        ('{"a": 1}', "f.toml: stored notify entries must be a list"),
        (
            '[{"events": ["boom"], "webhook": "http://x"}]',
            "f.toml: stored notify[0].events: must list some of crash, errored",
        ),
        ('[{"events": ["crash"]}]', "f.toml: stored notify[0]: needs exactly one of"),
        (
            '[{"events": ["crash"], "webhook": 3}]',
            "f.toml: stored notify[0].webhook: must be a string (got 3)",
        ),
    ],
)
def test_bad_stored_entries_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        specs_from_json(text, source="f.toml")
    assert str(info.value).startswith(message)


async def test_state_db_keeps_entries_per_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        assert await store.notify_entries() == {}
        await store.set_notify("/srv/b.toml", '[{"x": 1}]')
        await store.set_notify("/srv/a.toml", "[1]")
        await store.set_notify("/srv/b.toml", "[2]")
        assert await store.notify_entries() == {"/srv/a.toml": "[1]", "/srv/b.toml": "[2]"}
        await store.set_notify("/srv/a.toml", "[]")
        assert await store.notify_entries() == {"/srv/b.toml": "[2]"}
        with pytest.raises(StateError, match="must be a JSON list"):
            await store.set_notify("/srv/a.toml", "{}")
    async with await StateStore.open(path) as store:
        assert await store.notify_entries() == {"/srv/b.toml": "[2]"}


async def test_a_version_1_state_db_gets_the_notify_table(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite_db(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
    async with await StateStore.open(path) as store:
        await store.set_notify("/srv/a.toml", "[1]")
        assert await store.notify_entries() == {"/srv/a.toml": "[1]"}
    with sqlite_db(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 2


@contextmanager
def sqlite_db(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
        db.commit()
    finally:
        db.close()


# ------------------------------------------------------------------------------ the guide
GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "notify.md").read_text()


def guide_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, re.DOTALL)


def test_every_ecosystem_example_of_the_guide_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "crasher.py").write_text("")
    blocks = guide_blocks("toml")
    assert len(blocks) == 4
    for block in blocks:
        if "[[apps]]" not in block:  # a [[notify]] table to add to a file
            block = '[[apps]]\nname = "crasher"\nscript = "crasher.py"\n' + block
        (tmp_path / "ecosystem.toml").write_text(block)
        assert load_ecosystem(tmp_path / "ecosystem.toml").notify


async def test_the_guide_example_runs_as_shown(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    receiver, crasher = guide_blocks("python")[:2]
    (tmp_path / "receiver.py").write_text(receiver.replace("9000", port))
    (tmp_path / "crasher.py").write_text(crasher)
    (tmp_path / "ecosystem.toml").write_text(guide_blocks("toml")[0].replace("9000", port))
    proc = await anyio.open_process(
        [sys.executable, "receiver.py"], cwd=tmp_path, stderr=subprocess.DEVNULL
    )
    try:

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", int(port))) == 0

        await eventually(listening)
        with anyio.fail_after(30):
            done = await anyio.run_process(
                [sys.executable, "-m", "supervisor_core.cli", "run", "ecosystem.toml"],
                cwd=tmp_path,
                check=False,
            )
    finally:
        proc.terminate()
        await proc.wait()
    assert proc.stdout is not None
    printed = b""
    async for chunk in proc.stdout:
        printed += chunk
    assert done.returncode == 1
    shown = re.sub(r"\[ptm \d\d:\d\d:\d\d\] ", "", done.stdout.decode())
    expected = guide_blocks("text")[0]
    for line in re.sub(r"\[ptm \d\d:\d\d:\d\d\] ", "", expected).splitlines():
        line = re.sub(r"delivering \d+ alert", "delivering N alert", line)
        assert line in re.sub(r"delivering \d+ alert", "delivering N alert", shown), line
    decoder, text, bodies = json.JSONDecoder(), printed.decode(), []
    while text.strip():
        body, end = decoder.raw_decode(text.strip())
        bodies.append(body)
        text = text.strip()[end:]
    assert [b["event"] for b in bodies] == ["crash", "crash", "crash", "errored"]
    example = json.loads(guide_blocks("json")[0])
    assert set(bodies[-1]) == set(example)
    assert {k: bodies[-1][k] for k in ("event", "status", "previous", "reason", "exit_code")} == {
        k: example[k] for k in ("event", "status", "previous", "reason", "exit_code")
    }
    assert json.loads((tmp_path / "last-alert.json").read_text()) == bodies[-1]
