"""`ptm reload` through the daemon: rolling, and exit 1 when a new process is never ready."""

from __future__ import annotations

from tests.e2e.conftest import Ptm
from tests.helpers import free_port
from tests.test_cluster_reload import SERVER


def test_ptm_reload_rolls_and_says_when_the_new_process_is_not_ready(ptm: Ptm) -> None:
    flag = ptm.cwd / "never-ready"
    ptm.write(
        "web.py",
        SERVER.replace('not os.environ.get("NEVER_READY")', f"not os.path.exists({str(flag)!r})"),
    )
    port = free_port()
    ptm.write(
        "ecosystem.toml",
        f"""
        [[apps]]
        name = "web"
        script = "web.py"
        instances = 2
        exec_mode = "cluster"
        wait_ready = true
        listen_timeout = "1s"
        kill_timeout = "2s"

        [apps.listen]
        port = {port}
        """,
    )
    ptm.ok("start", "ecosystem.toml")
    before = ptm.wait_online(2)
    ptm.ok("reload", "web")
    rows = ptm.wait_online(2)
    assert [r["restarts"] for r in rows] == [1, 1]
    assert not {r["pid"] for r in rows} & {r["pid"] for r in before}

    flag.write_text("x")
    failed = ptm("reload", "web")
    assert failed.returncode == 1
    assert "was not ready" in failed.stderr and "runs on" in failed.stderr
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    after = ptm.wait_online(2)
    assert [r["pid"] for r in after] == [r["pid"] for r in rows]
