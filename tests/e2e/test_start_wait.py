"""``ptm start`` tells the truth: it returns once every instance it started has stayed up for
``min_uptime`` (or is ready), and otherwise exits 1 naming ``name#instance`` with the last
lines of its error log; ``--no-wait`` returns at once."""

from __future__ import annotations

import subprocess
import time

from tests.e2e.conftest import PTM, Ptm

CRASH = """
import sys, time
time.sleep(0.2)
print("loading the settings", flush=True)
print("Traceback (most recent call last):", file=sys.stderr)
print("KeyError: 'DATABASE_URL'", file=sys.stderr, flush=True)
sys.exit(3)
"""

STEADY = """
import time
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


def test_a_crashing_script_exits_1_naming_it_with_its_last_error_lines(ptm: Ptm) -> None:
    ptm.write("crash.py", CRASH)
    done = ptm("start", "crash.py")
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert lines[0].startswith("ptm: crash#0 did not start: exited with code 3"), lines
    assert "min_uptime (1 s)" in lines[0]
    assert lines[1] == f"ptm: the last lines of {ptm.home / 'logs' / 'crash-error.log'}:"
    assert any(line.endswith("KeyError: 'DATABASE_URL'") for line in lines[2:]), lines
    assert all(line.startswith("  ") for line in lines[2:])
    assert "[ptm] started crash" in done.stdout
    ptm.jlist()


def test_one_crashing_app_of_a_file_and_a_never_ready_instance(ptm: Ptm) -> None:
    ptm.write("crash.py", CRASH)
    ptm.write("steady.py", STEADY)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "web"
        script = "steady.py"
        instances = 2
        [[apps]]
        name = "worker"
        script = "crash.py"
        restart_delay = "100ms"
        [[apps]]
        name = "off"
        script = "crash.py"
        autostart = false
        """,
    )
    done = ptm("start", "ecosystem.toml")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("ptm: worker#0 did not start: exited with code 3")
    assert "DATABASE_URL" in done.stderr
    ptm.jlist()

    ptm.write(
        "ready.toml",
        """
        [[apps]]
        name = "never"
        script = "steady.py"
        wait_ready = true
        listen_timeout = "1s"
        """,
    )
    done = ptm("start", "ready.toml")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith(
        "ptm: never#0 did not start: was not ready within listen_timeout (1 s)\n"
    ), done.stderr
    ptm.jlist()

    ptm.write("killed.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = ptm("start", "killed.py")
    assert done.returncode == 1
    assert done.stderr.startswith("ptm: killed#0 did not start: was killed by signal 9 before")
    assert f"{ptm.home / 'logs' / 'killed-error.log'} is empty" in done.stderr
    ptm.jlist()


def test_it_waits_for_min_uptime_and_no_wait_returns_at_once(ptm: Ptm) -> None:
    ptm.write("steady.py", STEADY)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "slow"
        script = "steady.py"
        min_uptime = "2s"
        """,
    )
    began = time.monotonic()
    out = ptm.ok("start", "ecosystem.toml")
    assert time.monotonic() - began >= 2.0
    assert "[ptm] waiting for 1 instance to be up for min_uptime (2 s); --no-wait skips this" in out
    rows = ptm.jlist()
    assert rows[0]["status"] == "online" and rows[0]["uptime_s"] >= 2.0

    ptm.write(
        "long.toml",
        """
        [[apps]]
        name = "long"
        script = "steady.py"
        min_uptime = "60s"
        """,
    )
    began = time.monotonic()
    out = ptm.ok("start", "long.toml", "--no-wait")
    assert time.monotonic() - began < 30  # not the 60 s of its min_uptime
    assert "waiting" not in out and "[ptm] started long" in out
    ptm.jlist()

    ptm.write("crash.py", CRASH)
    done = ptm("start", "crash.py", "--no-wait")  # not errored yet: nothing to report
    assert done.returncode == 0, done.stderr
    ptm.jlist()


def test_a_known_app_restarted_with_a_crashing_script_is_reported(ptm: Ptm) -> None:
    ptm.write("steady.py", STEADY)
    ptm.write("crash.py", CRASH)
    eco = """
        [[apps]]
        name = "api"
        script = "{script}"
        kill_timeout = "2s"
        """
    ptm.write("ecosystem.toml", eco.format(script="steady.py"))
    ptm.ok("start", "ecosystem.toml")
    ptm.jlist()
    ptm.write("ecosystem.toml", eco.format(script="crash.py"))
    done = ptm("start", "ecosystem.toml")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "[ptm] restarted api" in done.stdout
    # The new run's end, not the old run's (stopped by the restart).
    assert done.stderr.startswith("ptm: api#0 did not start: exited with code 3 before"), (
        done.stderr
    )
    ptm.jlist()


def test_a_restart_asked_for_while_ptm_start_waits_is_not_a_failure(ptm: Ptm) -> None:
    """Two deploy jobs run ``ptm start ecosystem.toml`` at once, or someone restarts the app
    while a start waits for it: the waiting start saw the restart count grow and said
    "api#0 did not start: was killed by signal 15 (stop)", exit 1, while the app was up.
    A run ended by a command (a restart, a start with new settings, a watch or cron restart)
    is not the app's failure: the start waits for the new run instead. A stop is named as
    what happened."""
    ptm.write("steady.py", STEADY)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "api"
        script = "steady.py"
        instances = 2
        min_uptime = "3s"
        kill_timeout = "2s"
        """,
    )
    ptm.ok("start", "ecosystem.toml")  # known now: the starts below restart it

    def waiting_start() -> subprocess.Popen[str]:
        """A second ``ptm start`` of the file, once it waits for the new runs."""
        before = {row["pid"] for row in ptm.jlist()}
        start = subprocess.Popen(
            [*PTM, "start", "ecosystem.toml"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ptm.cwd,
        )
        ptm.wait_rows(
            lambda rows: all(r["status"] == "online" and r["pid"] not in before for r in rows)
        )
        return start

    # A second start of the file, and a restart, while a start waits for min_uptime.
    for other in (("start", "ecosystem.toml"), ("restart", "api")):
        start = waiting_start()
        try:
            ptm.ok(*other)
            out, err = start.communicate(timeout=40)
        finally:
            if start.poll() is None:
                start.kill()
                start.communicate()
        assert start.returncode == 0, (other, out, err)
        assert err == "", (other, err)
        rows = ptm.wait_online(2)
        assert all(row["uptime_s"] >= 3.0 for row in rows), rows  # it waited for the new run

    # A stop while it waits: a failure, named as such.
    start = waiting_start()
    try:
        ptm.ok("stop", "api")
        out, err = start.communicate(timeout=40)
    finally:
        if start.poll() is None:
            start.kill()
            start.communicate()
    assert start.returncode == 1, (out, err)
    assert err.splitlines()[0] == "ptm: api#0 did not start: was stopped while ptm start waited"
