"""docs/state.md tells the truth: its dump example and its messages are what ptm produces."""

from __future__ import annotations

import calendar
import dataclasses
import re
import sqlite3
import time
from pathlib import Path

import pytest

from supervisor_core.errors import StateError
from supervisor_core.store import StateStore, StoredApp, read_dump
from supervisor_core.store._db import SCHEMA_VERSION
from supervisor_core.store._dump import dump_text, write_dump
from tests.helpers import stored_apps_from_file

REPO = Path(__file__).resolve().parent.parent
GUIDE = (REPO / "docs" / "state.md").read_text()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def blocks(language: str) -> list[str]:
    return [block.split("```", 1)[0] for block in GUIDE.split(f"```{language}\n")[1:]]


def example(text: str) -> str:
    """The guide's line that starts like ``text``."""
    for line in GUIDE.splitlines():
        if line.strip().startswith(text):
            return line.strip()
    raise AssertionError(f"no line starting with {text!r} in docs/state.md")


def test_the_dump_example_is_what_ptm_save_writes(tmp_path: Path) -> None:
    ecosystem, dump = blocks("toml")[:2]
    shop = tmp_path / "srv" / "shop"
    (shop / "api").mkdir(parents=True)
    (shop / "api" / "server.py").write_text("")
    (shop / "report.py").write_text("")
    (shop / "ecosystem.toml").write_text(ecosystem)
    api, report = stored_apps_from_file(shop / "ecosystem.toml", "production")
    assert report.desired == "stopped"  # autostart = false
    # ptm start report; ptm stop api; ptm save
    apps: list[StoredApp] = [
        dataclasses.replace(api, desired="stopped"),
        dataclasses.replace(report, desired="running"),
    ]
    stamp = re.search(r"at (\S+Z):", dump)
    assert stamp is not None
    saved_at = calendar.timegm(time.strptime(stamp[1], "%Y-%m-%dT%H:%M:%SZ"))
    ids = {"api": [0], "report": [1]}  # the process id of each app's one instance
    assert dump_text(apps, saved_at=saved_at, ids=ids) == dump.replace("/srv/shop", str(shop))


async def test_the_sqlite3_examples_show_what_the_store_holds(tmp_path: Path) -> None:
    ecosystem = blocks("toml")[0]
    shop = tmp_path / "shop"
    (shop / "api").mkdir(parents=True)
    (shop / "api" / "server.py").write_text("")
    (shop / "report.py").write_text("")
    (shop / "ecosystem.toml").write_text(ecosystem)
    path = tmp_path / "state.db"
    async with await StateStore.open(path) as store:
        for app in stored_apps_from_file(shop / "ecosystem.toml", "production"):
            await store.upsert_app(app)
        await store.set_desired("api", "stopped")
        await store.set_desired("report", "running")
    env_query = re.search(r'"(SELECT json_extract[^"]+)"', GUIDE)
    assert env_query is not None
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT position, name, desired, env_name FROM apps ORDER BY position"
        ).fetchall()
        env = db.execute(env_query[1]).fetchall()
    db.close()
    assert rows == [(0, "api", "stopped", "production"), (1, "report", "running", None)]
    assert env == [('{"TZ":"UTC","PORT":"8000"}',)]
    assert '{"TZ":"UTC","PORT":"8000"}\n' in blocks("text")


async def test_the_messages_in_the_guide(tmp_path: Path) -> None:
    home = tmp_path / "home" / "u" / ".ptm"
    home.mkdir(parents=True)

    def shown(message: str) -> str:
        return message.replace(str(home), "/home/u/.ptm")

    with pytest.raises(StateError) as info:
        read_dump(home / "dump.toml")
    assert shown(str(info.value)) == example("no dump at")

    write_dump(
        home / "dump.toml",
        [
            StoredApp(
                name=name,
                entry={"name": name, "command": "sleep 1"},
                base_dir="/",
                env_name=None,
                source=None,
                desired="running",
                position=index,
            )
            for index, name in enumerate(["a", "b"])
        ],
    )
    with pytest.raises(StateError) as info:
        write_dump(home / "dump.toml", [])
    assert shown(str(info.value)) == example("not replacing")

    (home / "state.db").write_text("not sqlite\n" * 100)
    with pytest.raises(StateError) as info:
        await StateStore.open(home / "state.db")
    assert shown(str(info.value)) == example("/home/u/.ptm/state.db: not a ptm")

    (home / "state.db").unlink()
    async with await StateStore.open(home / "state.db"):
        pass
    with sqlite3.connect(home / "state.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError) as info:
        await StateStore.open(home / "state.db")
    assert shown(str(info.value)) == example("/home/u/.ptm/state.db: written by a newer ptm")


pytestmark = pytest.mark.anyio


def test_the_runs_kept_are_the_documented_number() -> None:
    from supervisor_core.store._db import RUNS_KEPT

    assert f"newest {RUNS_KEPT:,} of each instance" in " ".join(GUIDE.split())
    supervision = " ".join((REPO / "docs" / "supervision.md").read_text().split())
    assert f"the last {RUNS_KEPT:,} runs of each instance" in supervision
