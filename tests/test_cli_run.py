"""``ptm run``: the real command in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import alive, kill_if_alive

# The console script the install put beside this interpreter: what users run.
PTM = [str(Path(sys.executable).with_name("ptm"))]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 15) -> list[bytes]:
    """Lines of stdout up to and including the first containing ``needle``."""
    assert proc.stdout is not None
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen; got {lines!r}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_run_prints_prefixed_output_and_stops_everything_on_sigterm(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) both stop every app gracefully
    and exit 0."""
    write(
        tmp_path / "worker.py",
        """
        import os, subprocess, sys, time
        kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("worker ready", os.getpid(), kid.pid, flush=True)
        time.sleep(60)
        """,
    )
    eco = write(
        tmp_path / "ecosystem.toml",
        """
        [[apps]]
        name = "worker"
        script = "worker.py"
        kill_timeout = "2s"
        log_date_format = ""
        """,
    )
    proc = subprocess.Popen(
        [*PTM, "run", str(eco)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    pids: list[int] = []
    try:
        lines = read_until(proc, b"worker ready")
        ready = lines[-1]
        assert ready.startswith(b"worker | worker ready")
        # The status line and the app's output are printed by two tasks: on a busy machine
        # the app's first line can come first.
        if not any(b"worker:0 online (pid" in line for line in lines):
            read_until(proc, b"worker:0 online (pid")
        pids = [int(x) for x in ready.split()[-2:]]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert f"{sig.name}: stopping every app".encode() in out
        assert b"worker:0 stopped" in out
        assert not any(alive(p) for p in pids)
        # the app's log file was written too (default: $PTM_HOME/logs)
        log = Path(os.environ["PTM_HOME"]) / "logs" / "worker-out.log"
        assert log.read_bytes().startswith(b"worker ready")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_if_alive(pids)


def test_run_exits_when_every_app_has_ended(tmp_path: Path) -> None:
    eco = write(
        tmp_path / "ecosystem.toml",
        f"""
        [[apps]]
        name = "ok"
        command = [{sys.executable!r}, "-c", "print('done')"]
        autorestart = false

        [[apps]]
        name = "bad"
        command = [{sys.executable!r}, "-c", "import sys; sys.exit(3)"]
        max_restarts = 1
        """,
    )
    done = subprocess.run([*PTM, "run", str(eco)], capture_output=True, timeout=30)
    assert done.returncode == 1
    assert b"bad:0 errored (exit code 3, too many unstable restarts)" in done.stdout
    assert b"ok  | done" in done.stdout  # labels are padded to align
    only = subprocess.run([*PTM, "run", str(eco), "--only", "ok"], capture_output=True, timeout=30)
    assert only.returncode == 0
    assert b"bad" not in only.stdout


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[apps]]\nname = "x"\nscript = "nope.py"\n', b"apps[0].script"),
        ('[[apps]]\nname = "x"\ncommand = "true"\nmax_memory_restar = "1G"\n', b"did you mean"),
        ("[[apps]\n", b"ecosystem.toml"),
    ],
)
def test_config_errors_are_one_line_and_exit_2(tmp_path: Path, toml: str, message: bytes) -> None:
    eco = tmp_path / "ecosystem.toml"
    eco.write_text(toml)
    done = subprocess.run([*PTM, "run", str(eco)], capture_output=True, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count(b"\n") == 1
    assert b"Traceback" not in done.stderr


def test_missing_file_and_unknown_only(tmp_path: Path) -> None:
    done = subprocess.run([*PTM, "run", str(tmp_path / "none.toml")], capture_output=True)
    assert done.returncode == 2 and b"none.toml" in done.stderr
    assert done.stderr.count(b"\n") == 1
    eco = tmp_path / "e.toml"
    eco.write_text('[[apps]]\nname = "a"\ncommand = "true"\n')
    done = subprocess.run([*PTM, "run", str(eco), "--only", "zzz"], capture_output=True)
    assert done.returncode == 2 and b"no app named 'zzz'" in done.stderr


def test_help_and_version() -> None:
    done = subprocess.run([*PTM, "--version"], capture_output=True)
    assert done.returncode == 0 and done.stdout.startswith(b"ptm ")
    done = subprocess.run([*PTM, "run", "--help"], capture_output=True)
    assert done.returncode == 0 and b"foreground" in done.stdout
    done = subprocess.run([*PTM, "frobnicate"], capture_output=True)
    assert done.returncode == 2 and b"Traceback" not in done.stderr


def test_run_reads_a_pm2_file_and_says_what_it_ignored(tmp_path: Path) -> None:
    eco = write(
        tmp_path / "ecosystem.config.js",
        f"""
        module.exports = {{
          apps: [{{ name: 'ok', script: {sys.executable!r}, args: ['-c', 'print("done")'],
                    interpreter: 'none', autorestart: false, vizion: true }}],
        }};
        """,
    )
    done = subprocess.run([*PTM, "run", str(eco)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert b"ok | done" in done.stdout
    assert done.stderr.decode() == (
        f"ptm: warning: {eco}: PM2 keys with no ptm equivalent, ignored: apps[0].vizion"
        f" (ptm import {eco} says why)\n"
    )


def test_an_app_that_ends_before_the_next_is_added_does_not_end_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ptm run` judged "every app has ended" while it was still adding apps: a first app
    that ended before the second was added made it exit 0 and stop the second. Here the
    second app is added only once the first has ended, every time."""
    import anyio

    from supervisor_core._supervisor import Supervisor
    from supervisor_core.cli._run import Printer, supervise
    from supervisor_core.config import load_ecosystem

    eco = write(
        tmp_path / "ecosystem.toml",
        f"""
        [[apps]]
        name = "first"
        command = [{sys.executable!r}, "-c", "print('done')"]
        autorestart = false

        [[apps]]
        name = "second"
        command = [{sys.executable!r}, "-c", "import sys; sys.exit(3)"]
        max_restarts = 1
        """,
    )
    apps = list(load_ecosystem(eco).apps)
    real_add = Supervisor.add

    async def add_after_the_first_ended(self: Supervisor, spec: Any, **kw: Any) -> Any:
        if spec.name == "second":
            with anyio.fail_after(15):
                while self.info("first")[0].status != "stopped":  # noqa: ASYNC110 (a poll of state)
                    await anyio.sleep(0.01)
        return await real_add(self, spec, **kw)

    monkeypatch.setattr(Supervisor, "add", add_after_the_first_ended)
    code = anyio.run(supervise, apps, Printer(apps, color=False))
    assert code == 1  # the second app errored; it was not stopped as "everything ended"


# The app of the two tests below: it says goodbye on its kill_signal, slowly, then exits 0;
# its first line names its pid, and it keeps a grandchild of its own.
GOODBYE_APP = """
import os, signal, subprocess, sys, time
kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
def bye(*_):
    kid.terminate()
    for i in range(3):
        print("closing", i, flush=True)
        time.sleep(0.1)
    print("bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("ready", os.getpid(), kid.pid, flush=True)
while True:
    time.sleep(0.1)
"""


def wait_gone(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def wait_for_line(path: Path, needle: bytes, timeout: float = 15) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_bytes().splitlines():
                if needle in line:
                    return line
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in {path} within {timeout} s")


def test_closing_the_terminal_of_ptm_run_stops_every_app_gracefully(tmp_path: Path) -> None:
    """A terminal (or ssh session) closed under ``ptm run``: the kernel sends SIGHUP to the
    terminal's controlling process and every later write to it fails. ptm run died of the
    SIGHUP at once and left its apps running, unsupervised, as orphans (honcho-style runners
    and pm2#2530's daemon death). Now the apps are stopped as by Ctrl-C: each gets its
    kill_signal, its goodbye lines reach its log file, and nothing is left."""
    write(tmp_path / "app.py", GOODBYE_APP)
    eco = write(
        tmp_path / "ecosystem.toml",
        """
        [[apps]]
        name = "app"
        script = "app.py"
        instances = 2
        kill_timeout = "5s"
        log_date_format = ""
        """,
    )
    master, slave = os.openpty()
    # `setsid --ctty`: ptm run leads a new session whose controlling terminal is the pty,
    # as a login shell's foreground job does.
    proc = subprocess.Popen(
        ["setsid", "--ctty", *PTM, "run", str(eco), "--no-color"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
    )
    os.close(slave)
    logs = Path(os.environ["PTM_HOME"]) / "logs"
    pids: list[int] = []
    try:
        for instance in (0, 1):  # one file for both, each line marked with its instance
            line = wait_for_line(logs / "app-out.log", f"[{instance}] ready".encode())
            pids += [int(x) for x in line.split()[-2:]]
        os.close(master)  # the terminal goes away
        master = -1
        proc.wait(timeout=30)
        assert wait_gone(pids) == []
        lines = (logs / "app-out.log").read_bytes().splitlines()
        for instance in (0, 1):
            mine = [line for line in lines if line.startswith(f"[{instance}] ".encode())]
            assert mine[-1] == f"[{instance}] bye".encode(), lines
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_if_alive(pids)


def test_a_sigkilled_ptm_run_leaves_no_app_running(tmp_path: Path) -> None:
    """``kill -9`` (or the OOM killer) on ``ptm run``: the apps got nothing and ran on as
    orphans. Now they die with it, as with the daemon: the kernel sends each its
    kill_signal (PR_SET_PDEATHSIG), and the app stops its own child."""
    write(tmp_path / "app.py", GOODBYE_APP)
    eco = write(
        tmp_path / "ecosystem.toml",
        """
        [[apps]]
        name = "app"
        script = "app.py"
        log_date_format = ""
        """,
    )
    proc = subprocess.Popen(
        [*PTM, "run", str(eco)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    pids: list[int] = []
    try:
        ready = read_until(proc, b"app | ready")[-1]
        pids = [int(x) for x in ready.split()[-2:]]
        proc.kill()
        proc.communicate(timeout=15)
        assert wait_gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_if_alive(pids)


def test_as_a_containers_first_process_ptm_run_reaps_the_orphans_it_inherits(
    tmp_path: Path,
) -> None:
    """``ptm run`` as the main process of a container is its PID 1, so every process an app
    leaves behind (a shell's background job, a daemonizing tool, what a stop leaves for a
    moment) is handed to it when it exits: nobody reaped them, and the zombies piled up at
    every restart until the container ran out of pids. Here in a new pid namespace (as
    ``docker run`` makes one) the app leaves 10; none stays a zombie, and SIGTERM still
    stops the app gracefully and ends ptm run with 0."""
    write(
        tmp_path / "app.py",
        """
        import os, signal, subprocess, sys, time
        def zombies():
            found = 0
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                except OSError:
                    continue
                found += stat[stat.rfind(")") + 2] == "Z"
            return found
        def bye(*_):
            print("bye", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        for _ in range(10):
            subprocess.run(["sh", "-c", "sleep 0.2 & exit 0"])  # the sleep is left to pid 1
        time.sleep(0.5)  # every sleep has ended
        deadline = time.time() + 10
        while zombies() and time.time() < deadline:
            time.sleep(0.05)
        print("pid", os.getpid(), "zombies", zombies(), flush=True)
        while True:
            time.sleep(0.1)
        """,
    )
    eco = write(
        tmp_path / "ecosystem.toml",
        """
        [[apps]]
        name = "app"
        script = "app.py"
        log_date_format = ""
        """,
    )
    # A pid namespace of its own, with its own /proc; without root, in a user namespace too.
    userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    proc = subprocess.Popen(
        ["unshare", *userns, "--pid", "--fork", "--mount-proc", *PTM, "run", str(eco)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        line = read_until(proc, b"zombies")[-1]
        assert line.split()[-2:] == [b"zombies", b"0"], line
        first = psutil.Process(proc.pid).children()[0]  # pid 1 inside, seen from here
        first.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert b"app | bye" in out
    finally:
        with contextlib.suppress(psutil.Error):
            for process in psutil.Process(proc.pid).children(recursive=True):
                process.kill()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
