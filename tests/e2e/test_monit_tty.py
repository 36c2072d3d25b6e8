"""Interactive ``ptm monit`` in a real pseudo-terminal, its screen read by a VT emulator (pyte):
keys select, filter, and restart a process after a confirmation. And the history it draws
surviving a restart of the daemon."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import sqlite3
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyte
import pytest

from supervisor_core.cli._monit_tui import FRAME_END as _FRAME_END
from supervisor_core.client import Client
from tests.e2e.conftest import PTM, Ptm

COLS, LINES = 110, 32
UP, DOWN = b"\x1b[A", b"\x1b[B"
FRAME_END = _FRAME_END.encode()


@dataclass
class Screen:
    """A running ``ptm monit`` on a pseudo-terminal and what its screen shows."""

    proc: subprocess.Popen[bytes]
    fd: int
    screen: pyte.Screen
    stream: pyte.ByteStream
    unshown: bytearray = field(default_factory=bytearray)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def pump(self, timeout: float) -> None:
        """Read what the program wrote; the screen takes it up to the end of the last whole
        frame (a frame can come in several reads: reading half of one showed a title with no
        rows under it)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the program is gone
                data = b""
            self.unshown += data
            end = self.unshown.rfind(FRAME_END)
            if end >= 0:
                whole = end + len(FRAME_END)
                self.stream.feed(bytes(self.unshown[:whole]))
                del self.unshown[:whole]

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.text()
            if predicate(shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{shown}")
            self.pump(min(0.2, max(0.0, deadline - time.monotonic())))

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def row(self, shown: str, label: str) -> str:
        """The process list's line of ``label`` (``api:1``)."""
        for line in shown.splitlines():
            if f" {label} " in line and ("online" in line or "launching" in line):
                return line
        raise AssertionError(f"no row {label!r} on the screen:\n{shown}")


@pytest.fixture
def monit(ptm: Ptm) -> Iterator[Callable[[], Screen]]:
    started: list[Screen] = []

    def start() -> Screen:
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(LINES))
        proc = subprocess.Popen(
            [*PTM, "monit"],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            cwd=ptm.cwd,
            start_new_session=True,  # the pty becomes its controlling terminal
        )
        os.close(follower)
        screen = pyte.Screen(COLS, LINES)
        # Answer the terminal's queries (the cursor position report) as a terminal does.
        screen.write_process_input = lambda data: os.write(leader, data.encode())  # type: ignore[method-assign]
        shown = Screen(proc, leader, screen, pyte.ByteStream(screen))
        started.append(shown)
        return shown

    yield start
    for shown in started:
        if shown.proc.poll() is None:
            shown.proc.send_signal(signal.SIGTERM)
            try:
                shown.proc.wait(10)
            except subprocess.TimeoutExpired:
                shown.proc.kill()
                shown.proc.wait()
        os.close(shown.fd)


def test_monit_keys_select_filter_and_restart_with_a_confirmation(
    ptm: Ptm, monit: Callable[[], Screen]
) -> None:
    ptm.ecosystem(("api", 2), ("worker", 1))
    ptm.ok("start", "ecosystem.toml")
    before = {(r["name"], r["instance"]): r for r in ptm.wait_online(3)}
    m = monit()
    shown = m.wait_for(lambda s: "ptm monit · 2 apps · 3/3 online" in s, "the title")
    assert "▶" in m.row(shown, "api:0")  # the first process is selected
    # Sparklines fill in as the daemon samples every second.
    m.wait_for(lambda s: any(c in m.row(s, "api:0") for c in "▁▂▃▄▅▆▇█"), "a sparkline")

    # ↓ selects the next process; its details and its logs are shown below the list.
    m.send(DOWN)
    shown = m.wait_for(lambda s: "▶" in m.row(s, "api:1"), "api:1 selected")
    assert "── api:1 " in shown and "── logs of api:1 " in shown
    assert f"pid {before[('api', 1)]['pid']}" in shown
    m.wait_for(lambda s: f"ready {before[('api', 1)]['pid']}" in s, "api:1's output")
    m.send(DOWN)
    m.wait_for(lambda s: "▶" in m.row(s, "worker"), "worker selected")
    m.send(UP + UP)
    m.wait_for(lambda s: "▶" in m.row(s, "api:0"), "api:0 selected again")

    # / filters by name; Esc clears the filter.
    m.send(b"/work")
    shown = m.wait_for(lambda s: "filter: work" in s and " api:0 " not in s, "the filter")
    assert "▶" in m.row(shown, "worker")
    m.send(b"\r")
    m.send(b"\x1b")
    m.wait_for(lambda s: " api:0 " in s and "filter:" not in s, "the filter cleared")

    # r asks first; n cancels and nothing happens.
    m.send(UP + UP)
    m.wait_for(lambda s: "▶" in m.row(s, "api:0"), "api:0 selected")
    api0 = before[("api", 0)]["id"]
    m.send(b"r")
    m.wait_for(lambda s: f"restart api:0 (id {api0})? (y/n)" in s, "the question")
    m.send(b"n")
    m.wait_for(lambda s: "restart of api:0 cancelled" in s, "the cancellation")
    assert [r["restarts"] for r in ptm.jlist()] == [0, 0, 0]

    # r, then y: that process restarts (by its id), alone; the screen shows its new pid and
    # its count.
    m.send(b"r")
    m.wait_for(lambda s: "restart api:0" in s and "(y/n)" in s, "the question")
    m.send(b"y")
    m.wait_for(lambda s: "restarted api:0" in s, "the restart done")
    rows = {(r["name"], r["instance"]): r for r in ptm.wait_online(3)}
    assert rows[("api", 0)]["restarts"] == 1
    assert rows[("api", 0)]["pid"] != before[("api", 0)]["pid"]
    for other in (("api", 1), ("worker", 0)):
        assert rows[other]["restarts"] == 0 and rows[other]["pid"] == before[other]["pid"]
    new_pid = rows[("api", 0)]["pid"]
    shown = m.wait_for(lambda s: f"pid {new_pid}" in s, "the new pid of api:0")
    assert "1 restarts" in shown and "last: manual" in shown
    assert m.row(shown, "api:0").split()[4] == "1"  # the ↺ column
    assert m.row(shown, "api:1").split()[3] == "0"

    m.send(b"q")
    assert m.proc.wait(10) == 0
    assert ptm.daemon_pid() is not None


def test_monit_stop_and_start_from_the_keyboard(ptm: Ptm, monit: Callable[[], Screen]) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    m = monit()
    m.wait_for(lambda s: "1/1 online" in s, "the title")
    m.send(b"s")
    m.wait_for(lambda s: "stop api (id 0)? (y/n)" in s, "the question")
    m.send(b"y")
    m.wait_for(lambda s: "0/1 online" in s and "stopped api" in s, "api stopped")
    assert ptm.jlist()[0]["status"] == "stopped"
    m.send(b"t")
    m.wait_for(lambda s: "start api (id 0)? (y/n)" in s, "the question")
    m.send(b"y")
    m.wait_for(lambda s: "1/1 online" in s and "started api" in s, "api started")
    m.send(b"q")
    assert m.proc.wait(10) == 0


def test_history_minutes_survive_a_restart_of_the_daemon(ptm: Ptm) -> None:
    """The daemon reads state.db's minutes back when it starts: describe draws them."""
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    ptm.ok("kill")
    now_minute = int(time.time()) // 60
    rows = [("api", 0, now_minute - 60 + i, float(i), 30e6 + i * 1e6) for i in range(59)]
    with sqlite3.connect(ptm.home / "state.db") as db:
        db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?)", rows)
    db.close()
    ptm.ok("ping")  # a new daemon, which restores api from state.db
    ptm.wait_online(1)
    deadline = time.monotonic() + 15
    with Client(ptm.home, autostart=False) as client:
        while True:  # the daemon reads them back in the background
            [proc] = client.history("api", resolution="minute", points=61)["processes"]
            minute = proc["minute"]
            if any(v is not None for v in minute["cpu_percent"]) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    first = minute["end"] // 60 - 60  # the minute of the first of the 61 points
    by_minute = dict(zip(range(first, first + 61), minute["cpu_percent"], strict=True))
    assert [by_minute.get(r[2]) for r in rows] == [float(i) for i in range(59)]
    assert max(v for v in minute["memory_bytes"] if v is not None) == 30_000_000 + 58_000_000
    out = ptm.ok("describe", "api")
    day = out.splitlines().index(
        "Usage, last 24 h (a mark is 20 min, a minute's mean cpu and largest memory)"
    )
    assert out.splitlines()[day + 1].endswith("max 58%")
    assert out.splitlines()[day + 2].endswith("max 84mb")


def test_monit_with_no_app_says_so_on_a_terminal_and_off_it(
    ptm: Ptm, monit: Callable[[], Screen]
) -> None:
    assert "No app is running. Start one with: ptm start ecosystem.toml" in ptm.ok("monit")
    m = monit()
    m.wait_for(lambda s: "No app is running" in s and "0/0 online" in s, "the empty screen")
    m.send(b"r/x")  # nothing selected: r asks nothing, and the next keys are read
    shown = m.wait_for(lambda s: "/x▏" in s, "the filter being typed")
    assert "(y/n)" not in shown
    m.send(b"\x1b")  # alone: Esc then q at once would read as Alt+q
    m.wait_for(lambda s: "/x▏" not in s, "the filter cleared")
    m.send(b"q")
    assert m.proc.wait(10) == 0
