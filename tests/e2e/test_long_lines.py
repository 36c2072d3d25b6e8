"""A 10 MiB line and a line with no newline, through the real daemon to the file and
``ptm logs`` (docs/logs.md, "Lines"): the long line arrives whole, in 64 KiB pieces marked
where it was cut; the unended line waits for the app's exit and is then written."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import Ptm

BIG = 10 * 1024 * 1024
PIECE = 65536
MARK = " [ptm: line continues]"

APP = f"""
import sys, time
out = sys.stdout
out.write("before\\n"); out.flush()
out.write("A" * {BIG} + "\\n"); out.flush()
out.write("after\\n"); out.flush()
out.write("no newline yet"); out.flush()
print("written", file=sys.stderr, flush=True)
while True:
    time.sleep(0.1)
"""


def wait_for_text(path: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never reached {path}"
        time.sleep(0.05)


def test_a_10_mib_line_and_an_unended_one(ptm: Ptm) -> None:
    ptm.write("big.py", APP)
    ptm.write(
        "ecosystem.toml",
        """
        [[apps]]
        name = "big"
        script = "big.py"
        kill_timeout = "2s"
        log_date_format = ""
        log_file_max_size = "100M"
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(1)
    out = ptm.home / "logs" / "big-out.log"
    wait_for_text(ptm.home / "logs" / "big-error.log", "written\n")
    wait_for_text(out, "after\n")
    lines = out.read_text().split("\n")
    assert lines[0] == "before" and lines[-2:] == ["after", ""]  # the unended line waits
    pieces = lines[1:-2]
    assert len(pieces) == -(-BIG // PIECE)  # 160 pieces of 64 KiB
    assert all(piece.endswith(MARK) for piece in pieces[:-1])
    assert not pieces[-1].endswith(MARK)
    assert "".join(piece.removesuffix(MARK) for piece in pieces) == "A" * BIG

    shown = ptm.ok("logs", "big", "--nostream", "--out", "--lines", "2").splitlines()
    assert [line.split("| ", 1)[1] for line in shown[-2:]] == ["A" * len(pieces[-1]), "after"]

    ptm.ok("stop", "big")  # the app exits: its last line is written without its newline
    assert out.read_text().endswith("after\nno newline yet\n")
    shown = ptm.ok("logs", "big", "--nostream", "--out", "--lines", "1").splitlines()
    assert shown[-1].endswith("| no newline yet")
