"""dump.toml: a pure ecosystem file, written atomically, that loads back to the same apps."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.config import AppSpec, load_ecosystem
from supervisor_core.errors import ConfigError, StateError
from supervisor_core.store import (
    StateStore,
    StoredApp,
    backup_path,
    dump_entry,
    dump_ids,
    read_dump,
    write_dump,
)
from tests.helpers import stored_apps_from_file

ECOSYSTEM = """
[defaults]
kill_timeout = "8s"
log_date_format = "YYYY-MM-DD HH:mm:ss"

[defaults.env]
TZ = "UTC"

[[apps]]
name = "api"
script = "server.py"
args = "--port 8000 --name 'my api'"
cwd = "services/api"
instances = 2
max_memory_restart = "512M"
restart_delay = 500
exp_backoff_restart_delay = "100ms"
stop_exit_codes = [0, 3]
kill_signal = "SIGINT"
wait_ready = true
listen_timeout = "10s"
cron_restart = "0 3 * * *"
watch = ["server.py"]
ignore_watch = ["data"]
out_file = "logs/api-out.log"
error_file = "~/api-error.log"
log_file_max_size = "100MB"
log_file_max_files = 3
log_compress = true
log_compress_delay = 1
log_rotate_interval = "daily"
log_file_mode = "0600"
merge_logs = false

[apps.env]
PORT = 8000
DEBUG = true

[apps.env_production]
DEBUG = false
DB = "/var/lib/api.db"

[apps.health_check]
url = "http://127.0.0.1:8000/health"
interval = "5s"

[[apps]]
name = "web"
command = "sleep 1000"
exec_mode = "cluster"
autorestart = false

[apps.listen]
port = 8080

[[apps]]
name = "migrate"
script = "migrate.py"
autostart = false
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    api = folder / "services" / "api"
    api.mkdir(parents=True)
    (api / "server.py").write_text("print('api')\n")
    (folder / "migrate.py").write_text("print('migrate')\n")
    (folder / "ecosystem.toml").write_text(ECOSYSTEM)
    return folder


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return tmp_path / "ptm-home" / "dump.toml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def without_env_name(apps: tuple[AppSpec, ...]) -> tuple[AppSpec, ...]:
    return tuple(dataclasses.replace(app, env_name=None) for app in apps)


def stored(name: str, **changes: Any) -> StoredApp:
    values: dict[str, Any] = {
        "name": name,
        "entry": {"name": name, "command": "sleep 1000"},
        "base_dir": "/",
        "env_name": None,
        "source": None,
        "desired": "running",
        "position": 0,
    }
    values.update(changes)
    return StoredApp(**values)


# ---------------------------------------------------------------------------------------------
# Round trip


@pytest.mark.parametrize("env", [None, "production"])
def test_round_trip_gives_equal_specs(
    project: Path, dump: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    original = load_ecosystem(project / "ecosystem.toml", env)
    apps = stored_apps_from_file(project / "ecosystem.toml", env)
    assert write_dump(dump, apps) == dump
    monkeypatch.chdir(tmp_path)  # the dump does not depend on where ptm runs
    again = read_dump(dump)
    assert again.path == dump
    # The overlay is applied in the dump, so its name is not kept; everything else is equal.
    assert again.apps == without_env_name(original.apps)
    api = again.app("api")
    assert api.env == {"TZ": "UTC", "PORT": "8000", "DEBUG": "false" if env else "true"} | (
        {"DB": "/var/lib/api.db"} if env else {}
    )
    assert api.logs is not None
    assert api.logs.out_file == project / "logs" / "api-out.log"
    assert api.logs.error_file == Path.home() / "api-error.log"
    assert api.cwd == project / "services" / "api"
    assert api.watch.paths == (project / "services" / "api" / "server.py",)
    assert (api.logs.rotate_interval, api.logs.compress_delay, api.logs.file_mode) == (
        "daily",
        1,
        0o600,
    )


async def test_round_trip_through_the_state_database(
    project: Path, dump: Path, tmp_path: Path
) -> None:
    original = load_ecosystem(project / "ecosystem.toml", "production")
    async with await StateStore.open(tmp_path / "state.db") as store:
        for app in stored_apps_from_file(project / "ecosystem.toml", "production"):
            await store.upsert_app(app)
        write_dump(dump, await store.apps())
    assert read_dump(dump).apps == without_env_name(original.apps)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


test_round_trip_through_the_state_database = pytest.mark.anyio(
    test_round_trip_through_the_state_database
)


def test_the_dump_is_a_plain_ecosystem_file(project: Path, dump: Path) -> None:
    ids = {"api": [0], "web": [4, 7]}  # migrate's ids unknown: its comment has none
    write_dump(dump, stored_apps_from_file(project / "ecosystem.toml", "production"), ids=ids)
    text = dump.read_text()
    assert text.startswith("# Written by `ptm save` at ")
    data = tomllib.loads(text)
    assert set(data) == {"apps"}
    api, web, migrate = data["apps"]
    assert api["cwd"] == str(project / "services" / "api")
    assert web["cwd"] == str(project)
    assert api["out_file"] == str(project / "logs" / "api-out.log")
    assert api["script"] == "server.py"  # relative to the (now absolute) cwd, as written
    assert api["env"] == {"TZ": "UTC", "PORT": 8000, "DEBUG": False, "DB": "/var/lib/api.db"}
    assert not any(key.startswith("env_") for app in data["apps"] for key in app)
    assert api["kill_timeout"] == "8s"  # [defaults] merged into every app
    assert (api["log_rotate_interval"], api["log_compress_delay"], api["log_file_mode"]) == (
        "daily",
        1,
        "0600",
    )
    assert (api["autostart"], web["autostart"], migrate["autostart"]) == (True, True, False)
    assert f'# "api" id 0: from {project / "ecosystem.toml"}, --env production; running' in text
    assert '# "web" ids 4, 7: from' in text
    assert f"\n# from {project / 'ecosystem.toml'}" in text and "; stopped when saved" in text
    assert '"migrate" id' not in text
    assert dump_ids(text) == ids  # what ptm resurrect gives back
    # And ptm start (load_ecosystem) reads it like any ecosystem file.
    assert [app.name for app in load_ecosystem(dump).apps] == ["api", "web", "migrate"]


def test_stopped_apps_stay_stopped(project: Path, dump: Path) -> None:
    api, web, migrate = stored_apps_from_file(project / "ecosystem.toml")
    apps = [
        dataclasses.replace(api, desired="stopped"),
        web,
        dataclasses.replace(migrate, desired="running"),  # started by name after all
    ]
    write_dump(dump, apps)
    again = read_dump(dump)
    assert [(app.name, app.autostart) for app in again.apps] == [
        ("api", False),
        ("web", True),
        ("migrate", True),
    ]
    # Resurrect registers them again with the same desired state.
    assert [app.desired for app in stored_apps_from_file(dump)] == ["stopped", "running", "running"]


def test_a_dump_of_a_dump_is_the_same(project: Path, dump: Path, tmp_path: Path) -> None:
    write_dump(dump, stored_apps_from_file(project / "ecosystem.toml", "production"))
    second = tmp_path / "second" / "dump.toml"
    write_dump(second, stored_apps_from_file(dump))
    assert tomllib.loads(second.read_text()) == tomllib.loads(dump.read_text())


def test_dump_entry_of_an_app_started_without_a_file(tmp_path: Path) -> None:
    app = stored(
        "job",
        entry={"name": "job", "script": "job.py", "args": ("--once",), "env": {"A": "1"}},
        base_dir=str(tmp_path),
    )
    assert dump_entry(app) == {
        "name": "job",
        "cwd": str(tmp_path),
        "script": "job.py",
        "args": ["--once"],
        "autostart": True,
        "env": {"A": "1"},
    }


# ---------------------------------------------------------------------------------------------
# Safety


def test_files_are_private_and_the_previous_dump_is_kept(dump: Path) -> None:
    write_dump(dump, [stored("one")])
    first = dump.read_bytes()
    assert mode(dump) == 0o600
    assert mode(dump.parent) == 0o700
    assert not backup_path(dump).exists()
    write_dump(dump, [stored("two")])
    assert backup_path(dump) == dump.with_name("dump.toml.bak")
    assert backup_path(dump).read_bytes() == first
    assert mode(backup_path(dump)) == 0o600
    assert [app.name for app in read_dump(dump).apps] == ["two"]
    assert [app.name for app in read_dump(backup_path(dump)).apps] == ["one"]
    assert sorted(p.name for p in dump.parent.iterdir()) == ["dump.toml", "dump.toml.bak"]


def test_an_empty_list_never_replaces_a_dump_with_apps(dump: Path) -> None:
    write_dump(dump, [stored("one"), stored("two")])
    before = dump.read_bytes()
    with pytest.raises(StateError) as info:
        write_dump(dump, [])
    assert str(info.value) == (
        f"not replacing {dump} (2 apps) with an empty list: nothing is registered."
        " Use force (ptm save --force) to save it"
    )
    assert dump.read_bytes() == before
    assert not backup_path(dump).exists()


def test_force_saves_an_empty_list_which_reads_back_as_no_apps(dump: Path) -> None:
    write_dump(dump, [stored("one")])
    write_dump(dump, [], force=True)
    assert tomllib.loads(dump.read_text()) == {"apps": []}
    assert read_dump(dump).apps == ()
    assert read_dump(dump).path == dump
    write_dump(dump, [])  # an empty dump may be replaced by an empty one
    assert [app.name for app in read_dump(backup_path(dump)).apps] == []


def test_an_empty_list_may_start_a_dump(dump: Path) -> None:
    write_dump(dump, [])
    assert read_dump(dump).apps == ()


def test_an_unreadable_dump_is_not_replaced_by_an_empty_list(dump: Path) -> None:
    dump.parent.mkdir()
    dump.write_text("[[apps]\nbroken")
    with pytest.raises(StateError, match="cannot be read"):
        write_dump(dump, [])
    assert dump.read_text() == "[[apps]\nbroken"
    write_dump(dump, [stored("one")])  # apps may replace it; the damaged file is kept
    assert backup_path(dump).read_text() == "[[apps]\nbroken"


def test_a_missing_dump(dump: Path) -> None:
    with pytest.raises(StateError) as info:
        read_dump(dump)
    assert str(info.value) == f"no dump at {dump}; run ptm save first"


def test_a_damaged_dump_is_a_config_error_naming_it(dump: Path) -> None:
    dump.parent.mkdir()
    dump.write_text("[[apps]\n")
    with pytest.raises(ConfigError) as info:
        read_dump(dump)
    assert str(info.value).startswith(f"{dump}: invalid TOML at line 1")


def test_names_must_be_unique(dump: Path) -> None:
    with pytest.raises(StateError, match=r"app names must be unique \(one\)"):
        write_dump(dump, [stored("one"), stored("two"), stored("one")])
    assert not dump.exists()


def test_a_value_toml_cannot_hold_is_refused(dump: Path) -> None:
    with pytest.raises(StateError, match=r"cannot save one\.args: TOML has no null value"):
        write_dump(dump, [stored("one", entry={"name": "one", "command": "x", "args": None})])
    assert not dump.exists()


def test_a_failed_rename_leaves_the_old_dump_whole(
    dump: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dump(dump, [stored("one")])
    before = dump.read_bytes()
    real_replace = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst) == dump:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(StateError) as info:
        write_dump(dump, [stored("two")])
    assert str(info.value) == f"{dump}: cannot write the dump: No space left on device"
    assert dump.read_bytes() == before
    assert not [p for p in dump.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_crash_between_the_temp_file_and_the_rename(dump: Path, tmp_path: Path) -> None:
    """A process killed after writing the temporary file: the old dump is intact."""
    write_dump(dump, [stored("one")])
    before = dump.read_bytes()
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from supervisor_core.store import StoredApp, write_dump

        dump = Path({str(dump)!r})
        real_replace = os.replace

        def crash(src, dst):
            if Path(dst) == dump:
                os._exit(9)  # killed after fsync, before the rename
            real_replace(src, dst)

        os.replace = crash
        app = StoredApp(name="two", entry={{"name": "two", "command": "sleep 1"}}, base_dir="/",
                        env_name=None, source=None, desired="running", position=0)
        write_dump(dump, [app])
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert done.returncode == 9, done.stderr
    assert dump.read_bytes() == before
    assert [app.name for app in read_dump(dump).apps] == ["one"]
    leftovers = [p for p in dump.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1
    assert leftovers[0].name.startswith(".dump.toml.")
    assert b'name = "two"' in leftovers[0].read_bytes()  # the new dump, complete but unused
    # The next save cleans up after the crashed one.
    write_dump(dump, [stored("three")])
    assert not [p for p in dump.parent.iterdir() if p.name.endswith(".tmp")]
    assert [app.name for app in read_dump(dump).apps] == ["three"]
    assert [app.name for app in read_dump(backup_path(dump)).apps] == ["one"]


def test_many_short_apps_and_unusual_variable_names(dump: Path) -> None:
    apps = [
        stored(f"app{index}", entry={"name": f"app{index}", "command": "sleep 1000"})
        for index in range(5)
    ]
    entry = {"name": "env", "command": "sleep 1", "env": {"A B.C": "1"}}
    apps.append(stored("env", entry=entry))
    write_dump(dump, apps)
    again = read_dump(dump)
    assert [app.name for app in again.apps] == [f"app{index}" for index in range(5)] + ["env"]
    assert again.app("env").env == {"A B.C": "1"}


def test_settings_that_do_not_fit_in_toml_are_refused(dump: Path) -> None:
    entry = {"name": "odd", "command": "x", "args": [{"long": "x" * 200}]}
    with pytest.raises(StateError, match="cannot save app 'odd': its settings do not fit in TOML"):
        write_dump(dump, [stored("odd", entry=entry)])
    assert not dump.exists()


def test_process_ids_in_the_dump_survive_any_app_name(dump: Path) -> None:
    names = ["web.v2", "a-b_c", "3d"]
    apps = [stored(name) for name in names]
    ids = {"web.v2": [3, 4], "a-b_c": [0], "3d": [9]}
    write_dump(dump, apps, ids=ids)
    text = dump.read_text()
    assert dump_ids(text) == ids
    assert [app.name for app in read_dump(dump).apps] == names
    assert dump_ids("# from x; running when saved\n") == {}  # a dump without ids
