"""The commands PM2 users type: env, pid, prettylist, info and unstartup, with a real daemon."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from supervisor_core.cli._startup import UNIT_FOLDER
from tests.e2e.conftest import Ptm


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode().partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def _app_with_secrets(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 2))
    with open(ptm.cwd / "ecosystem.toml", "a") as file:
        file.write('[apps.env]\nDB_PASSWORD = "hunter2"\nApiKey = "k-123"\nLOG_LEVEL = "info"\n')


def test_env_prints_what_the_instance_runs_with_secrets_masked(ptm: Ptm) -> None:
    _app_with_secrets(ptm)
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(2)
    # By name (instance 0), by name and --instance, and by process id (api:1 has id 1).
    for instance, args in ((0, ["api"]), (1, ["api", "--instance", "1"]), (1, ["1"])):
        out = ptm.ok("env", *args)
        lines = out.splitlines()
        assert lines == sorted(lines)
        shown = dict(line.split("=", 1) for line in lines)
        assert shown["DB_PASSWORD"] == "****" and shown["ApiKey"] == "****"
        assert "hunter2" not in out and "k-123" not in out
        # Every other variable is exactly what the running process has.
        pid = next(r["pid"] for r in rows if r["instance"] == instance)
        real = _environ(pid)
        assert real["DB_PASSWORD"] == "hunter2"
        for name, value in shown.items():
            if value != "****":
                assert real[name] == value, name
        assert shown["PTM_APP_NAME"] == "api"
        assert shown["PTM_INSTANCE"] == str(instance)
        assert shown["PTM_HOME"] == str(ptm.home)
        assert shown["LOG_LEVEL"] == "info"
        assert "PTM_RUN_ID" in shown


def test_env_of_a_stopped_app_and_of_a_missing_instance(ptm: Ptm) -> None:
    _app_with_secrets(ptm)
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    ptm.ok("stop", "api")
    shown = dict(line.split("=", 1) for line in ptm.ok("env", "api").splitlines())
    assert "PTM_RUN_ID" not in shown  # no run: the rest is what the next run gets
    assert shown["PTM_APP_NAME"] == "api"
    done = ptm("env", "api", "--instance", "2")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "ptm: api has no instance 2 (its instances: 0, 1)\n"
    done = ptm("env", "nope")
    assert done.returncode == 1 and "no app named 'nope'" in done.stderr


def test_pid_prints_the_running_pids_one_per_line(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 2), ("worker", 1))
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(3)
    assert ptm.ok("pid").splitlines() == [str(r["pid"]) for r in rows]
    assert ptm.ok("pid", "api").splitlines() == [str(r["pid"]) for r in rows if r["name"] == "api"]
    assert ptm.ok("pid", "2") == f"{rows[2]['pid']}\n"  # worker, by its process id
    assert ptm.ok("pid", "1") == f"{rows[1]['pid']}\n"  # api:1 alone
    ptm.ok("stop", "worker")
    assert ptm.ok("pid", "worker") == ""
    done = ptm("pid", "nope")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "ptm: no app named 'nope'\n"


def test_prettylist_is_jlist_indented(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    out = ptm.ok("prettylist")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["api"]
    assert out == json.dumps(rows, indent=2) + "\n"
    assert set(rows[0]) == set(ptm.jlist()[0])


def test_info_is_describe(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    out = ptm.ok("info", "api")
    assert out.startswith(f"api (id 0, 1 instance, from {ptm.cwd / 'ecosystem.toml'})")


def test_unstartup_without_an_installed_unit_changes_nothing(ptm: Ptm) -> None:
    name = f"ptm-test-{uuid.uuid4().hex[:12]}"
    done = ptm("unstartup", "--service-name", name)
    assert (done.returncode, done.stdout) == (1, "")
    path = UNIT_FOLDER / f"{name}.service"
    assert done.stderr == f"ptm: no unit at {path}: nothing to remove\n"
    assert not path.exists()
    assert ptm.daemon_pid() is None  # it never needs the daemon


def test_interpreter_args_reach_the_process_and_describe(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    with open(ptm.cwd / "ecosystem.toml", "a") as file:
        file.write('interpreter_args = ["-X", "dev"]\n')
    ptm.ok("start", "ecosystem.toml")
    pid = ptm.wait_online(1)[0]["pid"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    assert [a.decode() for a in argv[1:]] == ["-X", "dev", str(ptm.cwd / "app.py")]
    config = ptm.ok("describe", "api")
    assert re.search(r"^  interpreter_args +-X dev$", config, re.MULTILINE)


@pytest.mark.parametrize(
    "flags",
    [
        ["--node-args", "--max-old-space-size=512"],  # PM2 takes the next word, dash or not
        ["--node-args=--max-old-space-size=512"],
        ["--interpreter-args", "--max-old-space-size=512 --no-warnings"],
    ],
)
def test_the_guides_node_memory_flag_reaches_node(ptm: Ptm, flags: list[str]) -> None:
    """The guide's ``node --max-old-space-size=512 dist/index.js``, as PM2 users write it."""
    (ptm.cwd / "dist").mkdir()
    ptm.write("dist/index.js", "console.log('ready'); setInterval(() => {}, 1000);\n")
    done = ptm("start", "dist/index.js", "--name", "point-tron", *flags)
    assert done.returncode == 0, done
    pid = ptm.wait_online(1)[0]["pid"]
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    expected = flags[-1].split("=", 1)[1] if len(flags) == 1 else flags[1]
    assert argv[1:-1] == expected.split(), argv
    assert argv[-1] == str(ptm.cwd / "dist" / "index.js")
