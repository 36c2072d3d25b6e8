"""A daemon killed with SIGKILL: its apps stop with it, and the next daemon sweeps whatever
survived (a grandchild that left the group and ignores SIGTERM) before starting again."""

from __future__ import annotations

import os
import signal
import time

from tests.e2e.conftest import Ptm, wait_gone
from tests.helpers import alive, kill_if_alive

STUBBORN = """
import os, signal, subprocess, sys, time
code = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('grandchild', os.getpid(), flush=True); time.sleep(120)"
)
child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
print("main", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


def read_pids(ptm: Ptm, timeout: float = 15) -> dict[str, int]:
    log = ptm.home / "logs" / "stubborn-out.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        pids = {line.split()[0]: int(line.split()[1]) for line in text.splitlines() if line}
        if {"main", "grandchild"} <= set(pids):
            return pids
        time.sleep(0.05)
    raise AssertionError(f"no pids in {log}")


def test_apps_stop_with_a_sigkilled_daemon_and_leftovers_are_swept(ptm: Ptm) -> None:
    ptm.write("stubborn.py", STUBBORN)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "stubborn"
        script = "stubborn.py"
        kill_timeout = "1s"
        log_date_format = ""
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    first = read_pids(ptm)
    try:
        daemon = ptm.daemon_pid()
        assert daemon is not None
        os.kill(daemon, signal.SIGKILL)
        # No ptm command yet: the kernel told the app (pdeathsig) and it stopped.
        assert wait_gone({first["main"]}, 10) == set()
        # Its grandchild left the process group and ignores SIGTERM: it is still there...
        assert alive(first["grandchild"])
        (ptm.home / "logs" / "stubborn-out.log").write_text("")
        # ...until the next command starts a daemon, which sweeps it by its run id first.
        rows = ptm.wait_online(1)
        assert wait_gone({first["grandchild"]}, 10) == set()
        second = read_pids(ptm)
        assert rows[0]["pid"] == second["main"] != first["main"]
        described = ptm.ok("describe", "stubborn")
        assert "daemon died" in described
        ptm.app_pids.add(second["grandchild"])
    finally:
        kill_if_alive(list(first.values()))
