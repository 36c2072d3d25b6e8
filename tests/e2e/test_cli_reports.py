"""What ``ptm`` says it did: start all, resurrect after kill, and a usage error for --lines."""

from __future__ import annotations

from tests.e2e.conftest import Ptm


def test_logs_with_negative_lines_is_a_usage_error(ptm: Ptm) -> None:
    done = ptm("logs", "--lines", "-1", "--nostream")
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert "--lines" in done.stderr and "Traceback" not in done.stderr


def test_start_all_reports_only_what_it_started(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1), ("worker", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    ptm.ok("stop", "worker")
    out = ptm.ok("start", "all")
    assert "[ptm] started worker\n" in out, out
    assert "[ptm] already running: api\n" in out, out
    ptm.wait_online(2)
    out = ptm.ok("start", "all")
    assert "[ptm] started nothing\n" in out, out
    assert "[ptm] already running: api, worker\n" in out, out


def test_resurrect_right_after_kill_says_the_daemon_restored_the_apps(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1), ("worker", 1))
    ptm.ok("start", "ecosystem.toml")
    ptm.wait_online(2)
    ptm.ok("save")
    ptm.ok("kill")
    out = ptm.ok("resurrect")
    pid = ptm.daemon_pid()
    dump = ptm.home / "dump.toml"
    assert (
        f"[ptm] the daemon was not running: started it (pid {pid}); it restored api, worker\n"
        in out
    ), out
    assert f"[ptm] nothing more to start from {dump}\n" in out, out
    assert "resurrected nothing" not in out
    ptm.wait_online(2)
