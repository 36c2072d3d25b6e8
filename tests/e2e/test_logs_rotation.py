"""A real supervised child's logs under the real daemon: rotation by size with
log_compress_delay and log_file_mode, and describe showing the settings."""

from __future__ import annotations

import gzip
import os
import re
import stat
import time
from pathlib import Path

from supervisor_core.logs import rotated_files
from tests.e2e.conftest import Ptm

CHATTY = """
import sys, time
for i in range(60):
    print(f"line {i:03d} " + "x" * 90, flush=True)
    time.sleep(0.01)
print("done", flush=True)
print("one error line", file=sys.stderr, flush=True)
while True:
    time.sleep(1)
"""


def _read(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _settled(out: Path) -> bool:
    """All lines written, and every rotated file but the newest gzipped."""
    if not out.exists() or b"done\n" not in out.read_bytes():
        return False
    rotated = rotated_files(out)
    if any(p.name.endswith(".tmp") for p in out.parent.iterdir()):
        return False
    return len(rotated) >= 3 and all(p.name.endswith(".gz") for p in rotated[:-1])


def test_compress_delay_and_file_mode_on_a_supervised_childs_logs(ptm: Ptm) -> None:
    old_umask = os.umask(0o022)  # the daemon inherits it: 0660 would become 0640 if masked
    try:
        ptm.write("chatty.py", CHATTY)
        ptm.write(
            "ecosystem.toml",
            """
            [[apps]]
            name = "chatty"
            script = "chatty.py"
            kill_timeout = "2s"
            out_file = "logs/chatty-out.log"
            error_file = "logs/chatty-error.log"
            log_date_format = ""
            log_file_max_size = "1K"
            log_file_max_files = 20
            log_compress = true
            log_compress_delay = 1
            log_rotate_interval = "daily"
            log_file_mode = "0660"
            """,
        )
        ptm.ok("start", "ecosystem.toml")
    finally:
        os.umask(old_umask)
    ptm.wait_online(1)
    out = ptm.cwd / "logs" / "chatty-out.log"
    deadline = time.monotonic() + 20
    while not _settled(out):
        assert time.monotonic() < deadline, sorted(p.name for p in out.parent.iterdir())
        time.sleep(0.05)

    rotated = rotated_files(out)
    assert rotated[-1].name.endswith(".log")  # the newest rotated file is left plain
    assert all(p.name.endswith(".log.gz") for p in rotated[:-1])
    # Time rotation is on, so every file rotated today is named for today's local midnight.
    assert len({p.name.split("__")[1].split("-")[0] for p in rotated}) == 1
    everything = b"".join(_read(p) for p in rotated) + out.read_bytes()
    expected = b"".join(b"line %03d " % i + b"x" * 90 + b"\n" for i in range(60)) + b"done\n"
    assert everything == expected
    err = ptm.cwd / "logs" / "chatty-error.log"
    for path in [out, err, *rotated]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660, path

    shown = ptm.ok("describe", "chatty")
    assert re.search(r"log_compress_delay\s+1\n", shown), shown
    assert re.search(r"log_rotate_interval\s+daily\n", shown), shown
    assert re.search(r"log_file_mode\s+0660\n", shown), shown


def test_a_log_left_from_two_days_ago_is_rotated_under_its_day_at_the_first_line(
    ptm: Ptm,
) -> None:
    # The daemon cannot be made to wait for midnight, but a file's lines are dated by its
    # last write: a log last written two days ago is that day's, and the child's first line
    # rotates it away under that day's name.
    logs = ptm.cwd / "logs"
    logs.mkdir()
    out = logs / "daily-out.log"
    out.write_bytes(b"a line of two days ago\n")
    then = time.time() - 2 * 86400
    os.utime(out, (then, then))
    day = time.localtime(then)
    midnight = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(midnight))
    ptm.write("app.py", 'import time\nprint("ready", flush=True)\ntime.sleep(600)\n')
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "daily"
        script = "app.py"
        kill_timeout = "2s"
        out_file = "logs/daily-out.log"
        log_date_format = ""
        log_rotate_interval = "daily"
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    deadline = time.monotonic() + 20
    while out.read_bytes() != b"ready\n":
        assert time.monotonic() < deadline, (out.read_bytes(), sorted(os.listdir(logs)))
        time.sleep(0.05)
    (rotated,) = rotated_files(out)
    assert rotated.name == f"daily-out__{stamp}-0001.log"
    assert rotated.read_bytes() == b"a line of two days ago\n"
