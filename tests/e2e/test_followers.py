"""Slow ``ptm logs`` followers never cost the app a line, and each is told what it skipped.

20 followers subscribe and do not read while an app writes 10 MB as fast as it can: the log
file gets every line; each follower, once it reads, gets some lines and a ``{"skipped": N}``
notice for the rest, and the two add up to every line the app wrote. (How much the followers
slow the app is measured by ``python -m benchmarks``, not asserted here.)
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack

import httpx

from tests.e2e.conftest import Ptm

LINES = 100_000
SPEW = f"""
import sys
from pathlib import Path
pad = "x" * 90
write = sys.stdout.write
for n in range({LINES}):
    write(f"{{n:08d}} {{pad}}\\n")
sys.stdout.flush()
Path("spew.done").write_text("done")
import time
while True:
    time.sleep(1)
"""


def test_twenty_followers_that_do_not_read_cost_no_line_and_are_told(ptm: Ptm) -> None:
    ptm.write("spew.py", SPEW)
    ptm.write(
        "ecosystem.toml",
        '[[apps]]\nname = "spew"\nscript = "spew.py"\nautostart = false\n'
        'log_date_format = ""\nkill_timeout = "2s"\n',
    )
    ptm.ok("start", "ecosystem.toml")  # registered, not started: followers subscribe first
    transport_for = lambda: httpx.HTTPTransport(uds=str(ptm.home / "ptm.sock"))  # noqa: E731
    with ExitStack() as stack:
        streams = []
        for _ in range(20):
            client = stack.enter_context(
                httpx.Client(transport=transport_for(), base_url="http://ptm", timeout=10)
            )
            response = stack.enter_context(
                client.stream("GET", "/v1/logs/follow", params={"app": "spew"})
            )
            assert response.status_code == 200
            streams.append(response)
        ptm.ok("start", "spew")
        done = ptm.cwd / "spew.done"
        deadline = time.monotonic() + 60
        while not done.exists():
            assert time.monotonic() < deadline, "the app did not finish writing"
            time.sleep(0.05)
        out_file = ptm.home / "logs" / "spew-out.log"
        deadline = time.monotonic() + 30
        while out_file.read_bytes().count(b"\n") < LINES:
            assert time.monotonic() < deadline, "the log file does not have every line"
            time.sleep(0.05)
        assert out_file.read_bytes().count(b"\n") == LINES

        for response in streams:
            received = skipped = 0
            numbers: list[int] = []
            for text in response.iter_lines():
                item = json.loads(text)
                if "skipped" in item:
                    skipped += item["skipped"]
                else:
                    received += 1
                    numbers.append(int(item["line"].split()[0]))
                if received + skipped == LINES:
                    break
            assert received + skipped == LINES
            assert skipped > 0  # it did fall behind, and it was told by how much
            assert numbers == sorted(numbers)  # what it got is in order
