"""The apps inherit the environment of the shell that ran ``ptm start`` (PM2's way), keep it
across restarts, a daemon restart and resurrect, and take a new one with ``--update-env``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import PTM, Ptm

SHOW = """
import os, time
print(f"FOO={os.environ.get('FOO')} run={os.environ['PTM_RUN_ID']}", flush=True)
while True:
    time.sleep(0.1)
"""


def run(ptm: Ptm, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``ptm ARGS`` from a shell whose environment is the test's plus ``env``."""
    return subprocess.run(
        [*PTM, *args],
        capture_output=True,
        text=True,
        timeout=40,
        cwd=ptm.cwd,
        env={**os.environ, **env},
    )


def ok(ptm: Ptm, *args: str, **env: str) -> str:
    done = run(ptm, *args, **env)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def seen(ptm: Ptm, app: str, runs: int, timeout: float = 15) -> list[str]:
    """The FOO of each of the first ``runs`` runs of ``app``, once that many have printed."""
    log = ptm.home / "logs" / f"{app}-out.log"
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        values = [line.split("FOO=", 1)[1].split()[0] for line in lines if "FOO=" in line]
        if len(values) >= runs:
            return values
        assert time.monotonic() < deadline, f"{runs} runs not seen: {lines}"
        time.sleep(0.05)


def test_the_app_sees_the_callers_environment_until_update_env(ptm: Ptm) -> None:
    ptm.ok("ping")  # the daemon starts first, from a shell without FOO
    ptm.write("app.py", SHOW)
    ok(ptm, "start", "app.py", FOO="bar")
    assert seen(ptm, "app", 1) == ["bar"]

    ok(ptm, "restart", "app", "--update-env", FOO="baz")
    assert seen(ptm, "app", 2) == ["bar", "baz"]
    ok(ptm, "restart", "app", FOO="qux")  # without the flag: the stored one
    assert seen(ptm, "app", 3) == ["bar", "baz", "baz"]
    ok(ptm, "reload", "app", FOO="qux")
    assert seen(ptm, "app", 4)[3] == "baz"
    ok(ptm, "reload", "app", "--update-env", FOO="qux")
    assert seen(ptm, "app", 5)[4] == "qux"
    ok(ptm, "start", "app.py", FOO="new")  # known app: new settings, its own environment
    assert seen(ptm, "app", 6)[5] == "qux"
    ok(ptm, "start", "app.py", "--update-env", FOO="new")
    assert seen(ptm, "app", 7)[6] == "new"
    ok(ptm, "stop", "app")
    ok(ptm, "start", "app", FOO="by-name")  # a known app by name: its own environment
    assert seen(ptm, "app", 8)[7] == "new"
    ok(ptm, "stop", "app")
    ok(ptm, "start", "app", "--update-env", FOO="by-name")
    assert seen(ptm, "app", 9)[8] == "by-name"

    # A new daemon (after ptm kill) restores the app with the stored environment.
    ptm.jlist()
    ok(ptm, "save")
    ok(ptm, "kill")
    ok(ptm, "resurrect", FOO="resurrect")
    assert seen(ptm, "app", 10)[9] == "by-name"
    ptm.jlist()


def test_a_file_started_from_a_shell_and_resurrect_of_an_unknown_app(ptm: Ptm) -> None:
    ptm.write("app.py", SHOW)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "a"
        script = "app.py"
        [[apps]]
        name = "b"
        script = "app.py"
        env = { FOO = "from-the-file" }
        """,
    )
    ok(ptm, "start", "ecosystem.toml", FOO="shell")
    assert seen(ptm, "a", 1) == ["shell"]
    assert seen(ptm, "b", 1) == ["from-the-file"]  # the file's env wins over the shell's
    ptm.jlist()
    ok(ptm, "save")
    ok(ptm, "delete", "a")
    ok(ptm, "resurrect", FOO="resurrecting")  # a is not known any more: this shell's
    assert seen(ptm, "a", 2)[1] == "resurrecting"
    ptm.jlist()


def test_the_interpreter_is_looked_for_on_the_callers_path(ptm: Ptm, tmp_path: Path) -> None:
    ptm.ok("ping")  # the daemon's PATH has no bin/ folder of this test
    folder = tmp_path / "bin"
    folder.mkdir()
    runner = folder / "mypython"
    runner.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    runner.chmod(runner.stat().st_mode | stat.S_IXUSR)
    ptm.write("app.py", SHOW)
    path = f"{folder}{os.pathsep}{os.environ['PATH']}"
    ok(ptm, "start", "app.py", "--interpreter", "mypython", FOO="x", PATH=path)
    assert seen(ptm, "app", 1) == ["x"]
    rows = ptm.jlist()
    assert rows[0]["status"] == "online"
    # From a shell without it on PATH, the same flag is refused as the file key would be.
    refused = run(ptm, "start", "app.py", "--name", "other", "--interpreter", "mypython")
    assert refused.returncode == 2
    assert refused.stderr == (
        "ptm: --interpreter: program not found (looked in PATH) (got 'mypython')\n"
    )


def test_secrets_of_the_callers_environment_stay_in_a_0600_state_db(ptm: Ptm) -> None:
    ptm.write("app.py", SHOW)
    ok(ptm, "start", "app.py", API_TOKEN="s3cret-value", FOO="f")
    assert seen(ptm, "app", 1) == ["f"]
    ptm.jlist()
    for text in (ok(ptm, "describe", "app"), ok(ptm, "env", "app"), ok(ptm, "jlist")):
        assert "s3cret-value" not in text
    assert "s3cret-value" not in (ptm.home / "daemon.log").read_text()
    files = [ptm.home / name for name in ("state.db", "state.db-wal", "state.db-shm")]
    assert any(b"s3cret-value" in f.read_bytes() for f in files if f.exists())  # stored...
    for file in files:  # ...where only its owner can read it
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert (ptm.home / "state.db").exists()
