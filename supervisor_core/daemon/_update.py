"""``ptm update``: replace the daemon's code, keep every app.

:func:`check_installed` runs the installed version in a new interpreter first (it imports
the daemon and opens ``state.db`` read-only); if that fails, the daemon stays as it is.
Otherwise :func:`reexec` hands everything over and calls ``execve``: the pid stays, so the
apps stay its children. What crosses the exec is in ``$PTM_HOME/handover.json`` (mode 0600,
named by ``$PTM_HANDOVER``, removed by the new image once read): every instance's status,
restart counters and run (pid, pipe descriptors, each pipe's unterminated line), each cluster
app's listening socket, the sd_notify socket, the daemon's own listening socket and its pid
lock. Those descriptors are made inheritable just before the exec.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import anyio

from supervisor_core._home import Home
from supervisor_core._supervisor import Supervisor
from supervisor_core._version import __version__
from supervisor_core.errors import StateError
from supervisor_core.process import freeze_child_watcher

__all__ = ["HANDOVER_VAR", "check_installed", "check_update", "read_handover", "reexec"]

log = logging.getLogger("ptm.daemon")

HANDOVER_VAR = "PTM_HANDOVER"
CHECK_TIMEOUT = 60.0

_CHECK = """
import json, sqlite3, sys
import supervisor_core.daemon._main
from supervisor_core._version import __version__
from supervisor_core.store._db import SCHEMA_VERSION
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
have = db.execute("PRAGMA user_version").fetchone()[0]
db.execute("SELECT count(*) FROM apps").fetchone()
if have > SCHEMA_VERSION:
    sys.exit(f"state.db has schema version {have}; the installed ptm knows {SCHEMA_VERSION}")
print(json.dumps({"version": __version__}))
"""


async def check_installed(home: Home) -> str:
    """The installed version, once it has shown it can start; else StateError (one line)."""
    try:
        with anyio.fail_after(CHECK_TIMEOUT):
            done = await anyio.run_process(
                [sys.executable, "-P", "-c", _CHECK, str(home.state_db)], check=False, cwd=home.root
            )
    except TimeoutError:
        raise StateError(
            f"update refused: the installed version did not start within {CHECK_TIMEOUT:g} s"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").splitlines() if line]
        reason = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise StateError(f"update refused: the installed version cannot start: {reason}")
    try:
        return str(json.loads(done.stdout.decode().splitlines()[-1])["version"])
    except (ValueError, IndexError, KeyError):
        raise StateError("update refused: the installed version's check said nothing") from None


async def check_update(home: Home, sup: Supervisor) -> str:
    """The version to re-execute as, once it has shown it can start and every instance can
    be handed over; else StateError (one line)."""
    log.info("ptm update: checking the installed version")
    version = await check_installed(home)
    log.info("ptm update: the installed version %s starts", version)
    blocker = sup.handover_blocker()
    if blocker is not None:
        raise StateError(f"update refused for now: {blocker}; try again in a moment")
    return version


def reexec(
    home: Home,
    sup: Supervisor,
    *,
    listener_fd: int,
    lock_fd: int,
    started_at: float,
) -> NoReturn:
    """Hand everything over and become the installed version. Nothing awaits in here, so no
    app changes state between the description and the exec."""
    freeze_child_watcher()  # a child that ends from now on stays a zombie for the new image
    handover: dict[str, Any] = {
        "from_version": __version__,
        "started_at": started_at,
        "reexecuted_at": time.time(),
        "listener_fd": listener_fd,
        "lock_fd": lock_fd,
        **sup.freeze(),
    }
    for fd in (listener_fd, lock_fd):
        os.set_inheritable(fd, True)
    path = home.root / "handover.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(handover, out)
    sys.stdout.flush()
    sys.stderr.flush()
    env = dict(os.environ)
    env[HANDOVER_VAR] = str(path)
    # -P, as when the daemon was first spawned: nothing is imported from its folder (PTM_HOME)
    os.execve(sys.executable, [sys.executable, "-P", "-m", "supervisor_core.daemon"], env)


def read_handover() -> dict[str, Any] | None:
    """What the previous image handed over (None: a fresh start); the file is removed."""
    value = os.environ.pop(HANDOVER_VAR, None)
    if not value:
        return None
    path = Path(value)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)
    for key in ("listener_fd", "lock_fd"):
        os.set_inheritable(int(data[key]), False)
    return data
