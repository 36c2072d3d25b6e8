"""daemon.log is written through the rotating writer when it is the daemon's stderr.

Each case runs in a child process whose stdout and stderr are ``daemon.log``, as ``ptm``
starts the daemon, so that descriptors 1 and 2 can be moved without touching pytest's.
"""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from supervisor_core.logs import rotated_files

CHILD = textwrap.dedent(
    """
    import logging, os, sys
    from pathlib import Path
    from supervisor_core._home import Home
    from supervisor_core.daemon._daemonlog import DaemonLog

    home = Home(Path(sys.argv[1]))
    daemon_log = DaemonLog.install(home, max_size=int(sys.argv[2]), max_files=3)
    log = logging.getLogger("ptm.daemon")
    for i in range(60):
        log.info("record %03d %s", i, "x" * 40)
    print("a stray print to stdout", flush=True)
    os.write(2, b"a stray write to fd 2\\n")
    daemon_log.reopen()  # SIGHUP
    log.warning("after reopen")
    daemon_log.close()
    """
)


def _run(home: Path, max_size: int, stderr_to_log: bool = True) -> subprocess.CompletedProcess[str]:
    home.mkdir(mode=0o700, exist_ok=True)
    log_path = home / "daemon.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        return subprocess.run(
            [sys.executable, "-c", CHILD, str(home), str(max_size)],
            stdin=subprocess.DEVNULL,
            stdout=fd if stderr_to_log else subprocess.PIPE,
            stderr=fd if stderr_to_log else subprocess.PIPE,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        os.close(fd)


def _text(path: Path) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt") as f:
            return f.read()
    return path.read_text()


def test_daemon_log_rotates_and_stray_output_follows_the_current_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run(home, max_size=1024)
    log_path = home / "daemon.log"
    rotated = rotated_files(log_path)
    assert len(rotated) == 3  # max_files: the oldest were deleted
    assert all(p.name.endswith(".log.gz") for p in rotated)
    current = log_path.read_text()
    # What did not go through the logger landed in the current file, not a rotated one.
    assert "a stray print to stdout\n" in current
    assert "a stray write to fd 2\n" in current
    assert current.rstrip().endswith("WARNING ptm.daemon: after reopen")
    everything = "".join(_text(p) for p in rotated) + current
    assert "record 059" in everything and "INFO ptm.daemon: record 059" in everything
    for path in [log_path, *rotated]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_stderr_that_is_not_daemon_log_is_used_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = _run(home, max_size=1024, stderr_to_log=False)
    assert "INFO ptm.daemon: record 059" in done.stderr
    assert "WARNING ptm.daemon: after reopen" in done.stderr
    assert (home / "daemon.log").read_text() == ""
    assert rotated_files(home / "daemon.log") == []
