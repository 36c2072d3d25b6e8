"""ptm start / list / jlist / restart / stop / delete / logs / flush / save, for real."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import tomllib
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import PTM, Ptm
from tests.helpers import alive


def test_start_a_file_then_list_and_jlist(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1), ("worker", 2))
    out = ptm.ok("start", "ecosystem.toml")
    assert "[ptm] started api, worker" in out
    rows = ptm.wait_online(3)

    assert [(r["id"], r["name"], r["instance"]) for r in rows] == [
        (0, "api", 0),
        (1, "worker", 0),
        (2, "worker", 1),  # every process has its own id, as in PM2
    ]
    logs = ptm.home / "logs"
    for row in rows:
        assert isinstance(row["pid"], int) and alive(row["pid"])
        assert row["status"] == "online"
        assert row["restarts"] == 0 and row["unstable_restarts"] == 0
        assert isinstance(row["uptime_s"], float) and row["uptime_s"] >= 0
        assert row["started_at"].endswith("Z")
        datetime.fromisoformat(row["started_at"].replace("Z", "+00:00"))
        assert row["cpu_percent"] is None or isinstance(row["cpu_percent"], float)
        assert row["memory_bytes"] is None or isinstance(row["memory_bytes"], int)
        assert row["exit_code"] is None
        assert row["exec_mode"] == "fork"
        assert row["out_file"] == str(logs / f"{row['name']}-out.log")
        assert row["error_file"] == str(logs / f"{row['name']}-error.log")
        assert row["last_restart_reason"] is None
        assert row["desired"] == "running"
    assert len({r["pid"] for r in rows}) == 3

    table = ptm.ok("list")
    for row in rows:
        assert str(row["pid"]) in table
    assert "worker:1" in table and "online" in table
    assert _steady(ptm.ok("ls")) == _steady(ptm.ok("status")) == _steady(table)


def _steady(table: str) -> list[list[str]]:
    """A ``ptm list`` table's cells that do not change from one second to the next (id, name,
    mode, pid, status, restarts): uptime, cpu and memory, and so column widths, may."""
    rows = [line.split("│")[1:-1] for line in table.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in row[:6]] for row in rows]


def test_start_again_restarts_with_the_new_settings_and_never_duplicates(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    first = ptm.wait_online(1)[0]
    ptm.ecosystem(("api", 2))
    assert "[ptm] restarted api" in ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(2)
    assert first["pid"] not in {r["pid"] for r in rows}


def test_restart_counts_and_says_manual(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    before = ptm.wait_online(1)[0]
    assert "[ptm] restarted api" in ptm.ok("restart", "api")
    after = ptm.wait_online(1)[0]
    assert after["restarts"] == 1
    assert after["last_restart_reason"] == "manual"
    assert after["pid"] != before["pid"]
    assert not alive(before["pid"])
    assert "[ptm] reloaded api" in ptm.ok("reload", "api")
    again = ptm.wait_online(1)[0]
    assert (again["restarts"], again["last_restart_reason"]) == (2, "manual")


def test_stop_then_start_then_delete(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1), ("worker", 1))
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(2)
    api = rows[0]["pid"]
    assert "[ptm] stopped api" in ptm.ok("stop", "api")
    rows = ptm.jlist()
    assert (rows[0]["name"], rows[0]["status"], rows[0]["pid"]) == ("api", "stopped", None)
    assert rows[1]["status"] == "online"
    assert not alive(api)

    assert "[ptm] started api" in ptm.ok("start", "api")
    ptm.wait_online(2)

    assert "[ptm] deleted api" in ptm.ok("delete", "api")
    assert [r["name"] for r in ptm.jlist()] == ["worker"]
    assert "[ptm] deleted worker" in ptm.ok("delete", "ecosystem.toml")
    assert ptm.jlist() == []


def test_start_a_script_without_a_file(ptm: Ptm) -> None:
    ptm.write(
        "echo_args.py",
        """
        import sys, time
        print("args", sys.argv[1:], flush=True)
        time.sleep(60)
        """,
    )
    out = ptm.ok("start", "echo_args.py", "--name", "echo", "-i", "2", "--", "--port", "3000")
    assert "[ptm] started echo" in out
    rows = ptm.wait_online(2)
    assert {r["name"] for r in rows} == {"echo"}
    described = ptm.ok("describe", "echo")
    assert "--port 3000" in described
    assert str(ptm.cwd) in described


def test_start_a_program_on_path_as_a_files_script_may(
    ptm: Ptm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pm2 start dist/index.js --name point-tron`` for Point-Tron, whose script is a console
    script on PATH (examples/ecosystem.toml: script = "point-tron"); a known app's name still
    names the app."""
    bin_dir = ptm.cwd / "bin"
    bin_dir.mkdir()
    for name in ("point-tron", "tool"):
        program = bin_dir / name
        program.write_text('#!/bin/sh\necho "ready $*"\nexec sleep 3600\n')
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = ptm.ok("start", "point-tron", "--name", "point-tron", "--", "--port", "0")
    assert "[ptm] started point-tron" in out
    ptm.wait_online(1)
    argv = re.compile(rf"^  argv +{re.escape(str(bin_dir / 'point-tron'))} --port 0$", re.M)
    assert argv.search(ptm.ok("describe", "point-tron"))
    ptm.ok("stop", "point-tron")
    assert "[ptm] started point-tron" in ptm.ok("start", "point-tron")  # the known app
    ptm.wait_online(1)
    assert argv.search(ptm.ok("describe", "point-tron"))  # its arguments kept
    assert "[ptm] started tool" in ptm.ok("start", "tool")  # not an app: the program
    assert sorted(row["name"] for row in ptm.wait_online(2)) == ["point-tron", "tool"]
    missing = ptm("start", "no-such-program-here", "--name", "x")
    assert (missing.returncode, missing.stdout) == (2, ""), missing
    assert missing.stderr == "ptm: no-such-program-here: no such script (nor a program on PATH)\n"


def wait_log(ptm: Ptm, args: list[str], needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = ptm.ok("logs", *args)
        if needle in out or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def test_logs_nostream_lines_out_err_and_json(ptm: Ptm) -> None:
    ptm.write(
        "count.py",
        """
        import sys, time
        for i in range(1, 6):
            print(f"line {i}", flush=True)
        print("oops", file=sys.stderr, flush=True)
        time.sleep(60)
        """,
    )
    ptm.write(
        "count.toml",
        """
        [[apps]]
        name = "count"
        script = "count.py"
        log_date_format = ""
        kill_timeout = "2s"
        """,
    )
    ptm.ok("start", "count.toml")
    out = wait_log(ptm, ["count", "--nostream", "--lines", "3"], "line 5")
    assert out.splitlines() == [
        "count | line 3",
        "count | line 4",
        "count | line 5",
        "count ! oops",
    ]
    assert ptm.ok("logs", "count", "--nostream", "--err").splitlines() == ["count ! oops"]
    assert ptm.ok("logs", "--nostream", "--out", "--lines", "1").splitlines() == ["count | line 5"]
    objects = [json.loads(line) for line in ptm.ok("logs", "--nostream", "--json").splitlines()]
    assert objects[-1] == {"app": "count", "instance": 0, "stream": "err", "line": "oops"}


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_logs_follows_until_ctrl_c(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    pid = ptm.wait_online(1)[0]["pid"]
    wait_log(ptm, ["api", "--nostream"], "ready")
    with subprocess.Popen(
        [*PTM, "logs", "api", "--lines", "1", "--out"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ptm.cwd,
        env=dict(os.environ),
        # Ctrl-C must reach ptm even when the shell running the tests ignores SIGINT (nohup,
        # a background job): an ignored SIGINT is inherited, and Python then keeps ignoring it.
        preexec_fn=_default_sigint,
    ) as follower:
        try:
            assert follower.stdout is not None and follower.stderr is not None
            assert follower.stdout.readline() == f"api | ready {pid}\n"
            os.kill(pid, signal.SIGUSR1)  # the app prints a line: it must come while following
            assert follower.stdout.readline() == "api | got SIGUSR1\n"
            follower.send_signal(signal.SIGINT)
            assert follower.wait(10) == 0
            assert follower.stderr.read() == ""
        finally:
            if follower.poll() is None:
                follower.kill()


def test_signal_reaches_the_app(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    pid = ptm.wait_online(1)[0]["pid"]
    wait_log(ptm, ["api", "--nostream"], "ready")
    assert f"[ptm] sent SIGUSR1 to {pid}" in ptm.ok("signal", "SIGUSR1", "api")
    assert "got SIGUSR1" in wait_log(ptm, ["api", "--nostream"], "got SIGUSR1")


def test_flush_empties_the_log_files(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    wait_log(ptm, ["api", "--nostream"], "an error line")
    out = ptm.ok("flush", "api")
    logs = ptm.home / "logs"
    assert "[ptm] flushed 2 log files" in out
    for name in ("api-out.log", "api-error.log"):
        assert str(logs / name) in out
        assert (logs / name).stat().st_size == 0
    assert ptm.ok("logs", "api", "--nostream") == ""


def test_reload_logs_reopens_moved_files(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    pid = ptm.wait_online(1)[0]["pid"]
    wait_log(ptm, ["api", "--nostream"], "ready")
    out_log = ptm.home / "logs" / "api-out.log"
    out_log.rename(out_log.with_name("api-out.log.1"))  # what an external logrotate does
    assert ptm.ok("reloadLogs") == "[ptm] log files reopened\n"
    os.kill(pid, signal.SIGUSR1)
    assert "got SIGUSR1" in wait_log(ptm, ["api", "--nostream"], "got SIGUSR1")
    assert "got SIGUSR1" in out_log.read_text()


def test_reload_logs_with_no_daemon_for_its_home_starts_none_and_fails(ptm: Ptm) -> None:
    """logrotate runs its postrotate as root, with root's home: there ``ptm reloadLogs`` must
    not start a daemon of its own and say it reopened the logs of the apps it does not run."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    before = ptm.wait_online(1)
    other = ptm.cwd / "root-home"  # where PTM_HOME points in logrotate's environment
    env = {**os.environ, "PTM_HOME": str(other)}
    try:
        done = subprocess.run(
            [*PTM, "reloadLogs"], capture_output=True, text=True, timeout=40, env=env
        )
        assert (done.returncode, done.stdout) == (1, ""), done
        assert done.stderr == (
            f"ptm: no daemon running for PTM_HOME={other}: no log file to reopen"
            " (run ptm reloadLogs as the daemon's user, with its PTM_HOME)\n"
        )
        assert not (other / "ptm.pid").exists()
        assert not (other / "ptm.sock").exists()
    finally:
        subprocess.run([*PTM, "kill"], capture_output=True, timeout=60, env=env)
    after = ptm.jlist()  # the daemon of the apps is untouched
    assert [(r["pid"], r["status"]) for r in after] == [(r["pid"], "online") for r in before]


def test_scale_and_reset(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    first = ptm.wait_online(1)[0]["pid"]
    ptm.ok("scale", "api", "3")
    rows = ptm.wait_online(3)
    assert rows[0]["pid"] == first  # running instances are left alone
    ptm.ok("restart", "api")
    assert {r["restarts"] for r in ptm.wait_online(3)} == {1}
    ptm.ok("reset", "api")
    assert {r["restarts"] for r in ptm.jlist()} == {0}
    ptm.ok("scale", "api", "1")
    assert [r["instance"] for r in ptm.wait_online(1)] == [0]


def test_scale_of_a_fork_mode_app_with_a_fixed_port_warns_of_the_clash(ptm: Ptm) -> None:
    path = ptm.ecosystem(("api", 1))
    path.write_text(path.read_text() + '[apps.env]\nPORT = "3999"\n')  # the app binds nothing
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    done = ptm("scale", "api", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "ptm: warning: api runs in fork mode with PORT=3999: its 2 instances all bind that"
        " port, and all but the first fail with 'address already in use'; use"
        ' exec_mode = "cluster" with [apps.listen] to share one port\n'
    )
    assert "scaled api to 2" in done.stdout
    ptm.wait_online(2)
    ptm.ok("scale", "api", "1")  # back to one instance: nothing to warn of


def test_save_writes_dump_and_resurrect_brings_the_apps_back(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1), ("worker", 2))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(3)
    out = ptm.ok("save")
    dump = ptm.home / "dump.toml"
    assert f"[ptm] saved 2 apps to {dump}" in out
    saved = tomllib.loads(dump.read_text())
    assert [app["name"] for app in saved["apps"]] == ["api", "worker"]

    ptm.ok("kill")
    ptm.ok("delete", "all")  # a fresh daemon still knows the apps from state.db: forget them
    assert ptm.jlist() == []
    out = ptm.ok("resurrect")
    assert "[ptm] resurrected api, worker" in out
    ptm.wait_online(3)
    assert "already running: api, worker" in ptm.ok("resurrect")
    assert len(ptm.wait_online(3)) == 3


def test_the_saved_backup_starts_as_docs_state_md_says(ptm: Ptm) -> None:
    """docs/state.md: "To go back to it, start it (ptm start ~/.ptm/dump.toml.bak)". ptm
    knows an ecosystem file by its name, and took dump.toml.bak for a script to run."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    ptm.ok("save")
    ptm.ok("save")  # the first dump becomes dump.toml.bak
    backup = ptm.home / "dump.toml.bak"
    assert "[[apps]]" in backup.read_text()
    ptm.ok("delete", "all")
    done = ptm("start", str(backup))
    assert done.returncode == 0, done.stderr
    assert [row["name"] for row in ptm.wait_online(1)] == ["api"]


def test_init_writes_a_file_that_starts(ptm: Ptm, tmp_path: Path) -> None:
    out = ptm.ok("init")
    assert f"[ptm] wrote {tmp_path / 'ecosystem.toml'}" in out
    again = ptm("init")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert ptm.ok("init", "--force")
