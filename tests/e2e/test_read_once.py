"""``ptm start FILE`` reads the ecosystem file exactly once, in every process it runs.

An audit hook (``sys.addaudithook``, installed by a ``sitecustomize`` on ``PYTHONPATH``, which
the CLI and the daemon it starts both inherit) writes a line for each ``open`` of the file.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import Ptm

HOOK = """
import os
import sys

_TARGET = os.environ.get("PTM_TEST_COUNT_OPENS_OF")
_LOG = os.environ.get("PTM_TEST_OPENS_LOG")


def _count(event, args):
    if event != "open" or not args or args[0] is None or isinstance(args[0], int):
        return
    try:
        path = os.path.abspath(os.fsdecode(args[0]))
    except (TypeError, ValueError):
        return
    if path == _TARGET:
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()} {sys.argv[:2]}\\n".encode())
        finally:
            os.close(fd)


if _TARGET and _LOG:
    sys.addaudithook(_count)
"""


def test_ptm_start_reads_the_file_exactly_once(
    ptm: Ptm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(HOOK))
    eco = ptm.ecosystem(("web", 2), ("worker", 1))
    eco.write_text(
        eco.read_text()
        + textwrap.dedent(
            """
            [defaults]
            max_restarts = 3

            [[notify]]
            events = ["crash"]
            command = ["true"]
            """
        )
    )
    opens = tmp_path / "opens.log"
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv("PTM_TEST_COUNT_OPENS_OF", str(eco))
    monkeypatch.setenv("PTM_TEST_OPENS_LOG", str(opens))

    ptm.ok("start", eco.name)
    ptm.wait_online(3)

    # ptm start (the CLI and the daemon it started) opened the file once.
    lines = opens.read_text().splitlines()
    assert len(lines) == 1, lines
    ptm.ok("start", eco.name)  # a second start (a restart with new settings): one more read
    assert len(opens.read_text().splitlines()) == 2
