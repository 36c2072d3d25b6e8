"""``ptm update``: the daemon re-executes as the installed version; every app runs on.

The daemon runs from a copy of ``supervisor_core`` put first on ``PYTHONPATH``, so the test
can change the installed version under it: a new version marker that the new image must
report, or a module that no longer imports, which must make the update refuse.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

import supervisor_core
from tests.e2e.conftest import PTM, Ptm
from tests.helpers import free_port
from tests.test_cluster_reload import SERVER

RATE = 5000
PAD = "x" * 60
FAST = f"""
import os, signal, time
# The test's stop ends the app between two lines, never between a line's two writes (a half
# line at the end would be the app's, not ptm's).
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
print("ready", flush=True)
n = 0
start = time.monotonic()
while not stopping:
    due = int((time.monotonic() - start) * {RATE})
    while n < due:
        line = f"{{n:09d}} {PAD}\\n".encode()
        os.write(1, line[:25])  # every line in two writes: the update may fall between
        os.write(1, line[25:])
        n += 1
    time.sleep(0.002)
"""
HALF = """
import os, time
from pathlib import Path
os.write(1, b"first half, ")
Path("half.started").write_text("x")
while not Path("half.go").exists():
    time.sleep(0.01)
os.write(1, b"second half\\n")
while True:
    time.sleep(1)
"""
IDLE = """
import time
print("idle ready", flush=True)
while True:
    time.sleep(1)
"""
ECOSYSTEM = "".join(
    f'[[apps]]\nname = "{name}"\nscript = "{name}.py"\nlog_date_format = ""\nkill_timeout = "2s"\n'
    for name in ("fast", "half", "idle")
)


@pytest.fixture
def overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the package, first on PYTHONPATH for ptm and its daemon."""
    root = tmp_path / "installed"
    source = Path(supervisor_core.__file__).parent
    shutil.copytree(source, root / "supervisor_core", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("PYTHONPATH", str(root))
    return root / "supervisor_core"


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def info(ptm: Ptm) -> dict[str, object]:
    done = subprocess.run([*PTM, "ping"], capture_output=True, text=True, timeout=30, cwd=ptm.cwd)
    assert done.returncode == 0, done.stderr
    from supervisor_core.client import Client

    with Client(ptm.home, autostart=False) as client:
        return dict(client.info())


def start_apps(ptm: Ptm) -> dict[str, tuple[int, int]]:
    for name, text in (("fast", FAST), ("half", HALF), ("idle", IDLE)):
        ptm.write(f"{name}.py", text)
    ptm.write("ecosystem.toml", ECOSYSTEM)
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(3)
    wait_for(ptm.cwd / "half.started")
    return {row["name"]: (row["pid"], row["restarts"]) for row in rows}


def numbered_lines(path: Path) -> list[int]:
    numbers = []
    lines = path.read_text().splitlines()
    for at, line in enumerate(lines):
        if line == "ready":
            continue
        number, _, pad = line.partition(" ")
        assert pad == PAD, f"a line not whole (line {at + 1} of {len(lines)}): {line!r}"
        numbers.append(int(number))
    return numbers


def test_update_keeps_every_app_and_every_line(ptm: Ptm, overlay: Path) -> None:
    before = start_apps(ptm)
    daemon = info(ptm)
    assert daemon["reexecuted_at"] is None
    fast_log = ptm.home / "logs" / "fast-out.log"
    deadline = time.monotonic() + 20
    while len(fast_log.read_bytes()) < 200 * len(PAD):  # the fast app is well under way
        assert time.monotonic() < deadline
        time.sleep(0.05)
    follower = subprocess.Popen(
        [*PTM, "logs", "fast", "--lines", "0", "--out"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ptm.cwd,
    )
    shown: list[str] = []  # read as a terminal would, so the follower keeps up
    reader = threading.Thread(target=lambda: shown.extend(follower.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not shown:  # it follows now
        assert time.monotonic() < deadline, "the follower showed nothing"
        time.sleep(0.02)
    try:
        (overlay / "_version.py").write_text('__version__ = "0.1.0+update-test"\n')
        updated = ptm("update", timeout=60)
        assert updated.returncode == 0, updated.stderr
        assert "0.1.0+update-test" in updated.stdout

        # The follower said the daemon was updated, and ended with exit code 0.
        follower.wait(timeout=20)
        reader.join(timeout=20)
        err = follower.stderr.read() if follower.stderr is not None else ""
        assert follower.returncode == 0, err
        assert "[ptm] the daemon updated" in err
        assert all(line.startswith("fast | ") for line in shown)
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.wait()
        for pipe in (follower.stdout, follower.stderr):
            if pipe is not None:
                pipe.close()
    after = info(ptm)
    assert after["pid"] == daemon["pid"]
    assert after["version"] == "0.1.0+update-test"
    assert isinstance(after["reexecuted_at"], float)
    assert "updated" in ptm.ok("ping")

    rows = ptm.jlist()
    assert {row["name"]: (row["pid"], row["restarts"]) for row in rows} == before
    assert all(row["status"] == "online" for row in rows)

    # A line begun before the update and ended after it is one whole line.
    (ptm.cwd / "half.go").write_text("go")
    half_log = ptm.home / "logs" / "half-out.log"
    deadline = time.monotonic() + 20
    while "second half" not in half_log.read_text():
        assert time.monotonic() < deadline, half_log.read_text()
        time.sleep(0.02)
    assert half_log.read_text() == "first half, second half\n"

    # The fast app's lines: each once, whole, none missing, across the update.
    ptm.ok("stop", "fast")
    numbers = numbered_lines(fast_log)
    assert numbers == list(range(len(numbers))), "a line lost or doubled"
    assert len(numbers) > RATE // 2

    # The new image supervises the adopted processes: a stop ends them, a restart counts.
    rows = ptm.wait_rows(lambda rows: rows[0]["status"] == "stopped")
    assert rows[0]["pid"] is None
    ptm.ok("restart", "idle")
    idle = next(row for row in ptm.jlist() if row["name"] == "idle")
    assert idle["restarts"] == 1 and idle["pid"] != before["idle"][0]


def test_an_installed_version_that_cannot_start_is_refused(ptm: Ptm, overlay: Path) -> None:
    before = start_apps(ptm)
    daemon = info(ptm)
    restore = overlay / "daemon" / "_restore.py"
    restore.write_text(restore.read_text() + "\ndef broken(:\n")

    refused = ptm("update", timeout=60)
    assert refused.returncode == 1
    assert refused.stdout == ""
    lines = refused.stderr.splitlines()
    assert len(lines) == 1, refused.stderr
    assert "update refused: the installed version cannot start: SyntaxError" in lines[0]

    after = info(ptm)  # the old daemon still serves, unchanged
    assert after["pid"] == daemon["pid"]
    assert after["reexecuted_at"] is None
    rows = ptm.jlist()
    assert {row["name"]: (row["pid"], row["restarts"]) for row in rows} == before
    ptm.ok("restart", "idle")  # and still takes commands
    assert json.loads(ptm.ok("jlist"))[2]["restarts"] == 1


def test_the_new_image_imports_nothing_from_ptm_home(ptm: Ptm) -> None:
    """The daemon runs in PTM_HOME; its check and its new image start as the first daemon
    did (``python -P``), so a ``json.py`` there is not imported in place of the stdlib's."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    (pid,) = [row["pid"] for row in ptm.wait_online(1)]
    (ptm.home / "json.py").write_text('raise ImportError("the json.py of PTM_HOME")\n')
    updated = ptm("update", timeout=60)
    assert updated.returncode == 0, updated.stderr
    assert info(ptm)["reexecuted_at"] is not None
    assert [row["pid"] for row in ptm.jlist()] == [pid]
    assert "json.py" not in (ptm.home / "daemon.log").read_text()


def test_a_cluster_app_keeps_its_socket_and_its_sd_notify_socket(ptm: Ptm) -> None:
    port = free_port()
    ptm.write("web.py", SERVER)
    ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "web"
        script = "web.py"
        instances = 2
        exec_mode = "cluster"
        wait_ready = true
        listen_timeout = "5s"
        kill_timeout = "2s"

        [apps.listen]
        port = {port}
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    before = {row["pid"] for row in ptm.wait_online(2)}
    ptm.ok("update")
    assert {row["pid"] for row in ptm.wait_online(2)} == before
    served = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)  # the same listening socket
    assert int(served.text) in before
    # A reload needs both sockets: the new processes share the port and say READY=1 on
    # $NOTIFY_SOCKET, whose path the adopted socket still has.
    ptm.ok("reload", "web")
    rows = ptm.wait_online(2)
    assert not {row["pid"] for row in rows} & before
    assert int(httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text) in {
        row["pid"] for row in rows
    }
