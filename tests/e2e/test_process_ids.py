"""Process ids as in PM2, with the real ``ptm`` and daemon: one id per process, commands by
id act on that process only, and ids survive ``kill``, daemon restarts and ``resurrect``."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.conftest import PTM, Ptm, Rows


def _by_id(rows: Rows) -> dict[int, dict[str, object]]:
    return {int(row["id"]): row for row in rows}


def _ids(rows: Rows) -> list[tuple[int, str, int]]:
    return [(row["id"], row["name"], row["instance"]) for row in rows]


def test_an_id_acts_on_that_one_process(ptm: Ptm) -> None:
    ptm.ecosystem(("web", 1), ("cnt", 2))  # cnt's instances share their log files
    ptm.ok("start", "ecosystem.toml")
    rows = ptm.wait_online(3)
    assert _ids(rows) == [(0, "web", 0), (1, "cnt", 0), (2, "cnt", 1)]
    assert [row["pm_id"] for row in rows] == [0, 1, 2]
    log = ptm.home / "logs" / "cnt-out.log"
    ptm.wait_rows(lambda _: log.exists() and log.read_text().count("ready") == 2)
    before = _by_id(rows)

    out = ptm.ok("restart", "1")
    assert "[ptm] restarted cnt:0 (id 1)" in out
    rows = ptm.wait_rows(
        lambda rows: (
            all(r["status"] == "online" for r in rows)
            and _by_id(rows)[1]["pid"] != before[1]["pid"]
            and log.read_text().count("ready") == 3
        )
    )
    after = _by_id(rows)
    assert (after[1]["restarts"], after[1]["last_restart_reason"]) == (1, "manual")
    for other in (0, 2):  # the others keep their pid and their counter
        assert (after[other]["pid"], after[other]["restarts"]) == (before[other]["pid"], 0)

    # ptm logs ID: only that process's lines, though cnt's instances share the file.
    shown = ptm.ok("logs", "2", "--nostream", "--lines", "50")
    assert f"ready {before[2]['pid']}" in shown
    assert str(before[1]["pid"]) not in shown and str(after[1]["pid"]) not in shown
    assert all(line.startswith("cnt:1") for line in shown.splitlines()), shown
    items = [
        json.loads(line) for line in ptm.ok("logs", "1", "--nostream", "--json").split("\n") if line
    ]
    assert {(item["app"], item["instance"]) for item in items} == {("cnt", 0)}
    assert {item["line"] for item in items if item["stream"] == "out"} == {
        f"ready {before[1]['pid']}",
        f"ready {after[1]['pid']}",
    }

    # Followed lines too: only process 2's, while process 1 also writes. (ptm logs follows
    # before it prints the last lines: once the first line is read, nothing is missed.)
    with subprocess.Popen(
        [*PTM, "logs", "2", "--json", "--out", "--lines", "1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ptm.cwd,
    ) as follower:
        try:
            assert follower.stdout is not None
            first = json.loads(follower.stdout.readline())
            assert (first["instance"], first["line"]) == (1, f"ready {before[2]['pid']}")
            ptm.ok("signal", "SIGUSR1", "1")  # cnt:0 prints first; the follower must skip it
            ptm.wait_rows(lambda _: log.read_text().count("got SIGUSR1") == 1)
            ptm.ok("signal", "SIGUSR1", "2")
            line = json.loads(follower.stdout.readline())
            assert (line["app"], line["instance"], line["line"]) == ("cnt", 1, "got SIGUSR1")
        finally:
            follower.terminate()
            follower.wait(10)

    # stop, describe, reset and delete by id.
    assert "[ptm] stopped cnt:1 (id 2)" in ptm.ok("stop", "2")
    rows = ptm.jlist()
    assert [(r["id"], r["status"]) for r in rows] == [(0, "online"), (1, "online"), (2, "stopped")]
    described = ptm.ok("describe", "1")
    assert described.startswith("cnt:0 (id 1, instance 0 of 2, from ")
    assert "cnt (ids 1, 2, 2 instances" in ptm.ok("describe", "cnt")
    assert "[ptm] reset the restart counters of cnt:0 (id 1)" in ptm.ok("reset", "1")
    assert _by_id(ptm.jlist())[1]["restarts"] == 0
    refused = ptm("delete", "1")
    assert refused.returncode == 1
    assert "process 1 is cnt:0, not the last instance of cnt" in refused.stderr
    assert "[ptm] deleted cnt:1" in ptm.ok("delete", "2")
    assert _ids(ptm.jlist()) == [(0, "web", 0), (1, "cnt", 0)]
    missing = ptm("restart", "2")
    assert missing.returncode == 1 and "no process with id 2" in missing.stderr


def test_ids_survive_kill_daemon_restarts_and_resurrect(ptm: Ptm) -> None:
    ptm.ecosystem(("a", 1), ("b", 2))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(3)
    ptm.ok("scale", "b", "3")  # b:2 gets the next id
    ptm.ok("delete", "a")  # frees id 0
    rows = ptm.wait_online(3)
    assert _ids(rows) == [(1, "b", 0), (2, "b", 1), (3, "b", 2)]
    ptm.ok("save")

    # A new daemon (after ptm kill) knows the ids from state.db, and which process was
    # stopped by its id.
    assert "[ptm] stopped b:1 (id 2)" in ptm.ok("stop", "2")
    ptm.ok("kill")
    rows = ptm.wait_rows(
        lambda rows: [r["status"] for r in rows] == ["online", "stopped", "online"]
    )
    assert _ids(rows) == [(1, "b", 0), (2, "b", 1), (3, "b", 2)]
    assert "already running: b" in ptm.ok("resurrect")
    assert _ids(ptm.jlist()) == [(1, "b", 0), (2, "b", 1), (3, "b", 2)]
    ptm.ok("start", "2")
    ptm.ok("kill")
    assert _ids(ptm.wait_online(3)) == [(1, "b", 0), (2, "b", 1), (3, "b", 2)]

    # Deleted, then resurrected from dump.toml: the saved ids come back.
    ptm.ok("kill")
    ptm.ok("delete", "all")
    assert ptm.jlist() == []
    ptm.ecosystem(("c", 1), name="other.toml")
    ptm.ok("start", "other.toml")  # takes id 0, free and not saved for b
    ptm.ok("resurrect")
    rows = ptm.wait_online(4)
    assert _ids(rows) == [(0, "c", 0), (1, "b", 0), (2, "b", 1), (3, "b", 2)]
    metrics = ptm.ok("metrics")
    for row in rows:  # each process is labelled with its own id
        labels = f'app="{row["name"]}",id="{row["id"]}",instance="{row["instance"]}"'
        assert f"ptm_process_up{{{labels}}} 1.0" in metrics
