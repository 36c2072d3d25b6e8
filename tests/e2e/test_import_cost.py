"""What the daemon and ``ptm jlist`` load: a guard against heavy imports creeping back.

The daemon is started by ``ptm`` itself with ``PYTHONPROFILEIMPORTTIME=1`` in its environment,
so that every module it ever imports (at start-up, and later while it serves) is written to
``daemon.log``; ``ptm jlist`` is run the same way and its stderr read. A library that is
needed only by one feature (a metrics scrape, an export, a webhook, a health check, ``watch``)
must be imported when that feature is first used, never on these paths.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import PTM, Ptm

# Never in a daemon that serves plain apps, whatever it was asked (no metrics scrape, no
# health check, no webhook, no `watch` here).
NOT_IN_DAEMON = {
    "argparse",  # `ptm daemon --help` only
    "click",  # uvicorn's and httpx's command lines
    "decimal",  # sizes and durations are parsed on integers (0.4 MB resident)
    "difflib",  # "did you mean" for an unknown key only
    "httpx",  # health checks and webhooks
    "multiprocessing",  # uvicorn --reload / --workers
    "prometheus_client",  # the first GET /v1/metrics
    "pygments",
    "rich",
    "supervisor_core.cli",
    "supervisor_core.export",  # ptm export / startup
    "tomli_w",  # ptm save
    "watchfiles",  # apps with `watch`
    "yaml",  # ptm export --format pm2 ... yaml
}

# Never in `ptm jlist`, `list`, `pid` or `ping`: the engine, the server, the same optional
# libraries, and no HTTP library either: one GET is sent with the standard library's socket
# (client/_light.py), not httpx (~45 ms to import) nor http.client (~15 ms: email, ssl).
NOT_IN_JLIST = {
    "aiosqlite",
    "anyio",
    "click",
    "dataclasses",  # imports inspect: ~6 ms
    "email",
    "h11",
    "http.client",
    "httpcore",
    "httpx",
    "prometheus_client",
    "psutil",
    "pygments",
    "rich",
    "ssl",
    "starlette",
    "supervisor_core._supervisor",
    "supervisor_core.config",
    "supervisor_core.daemon",
    "supervisor_core.export",
    "supervisor_core.store",
    "tomli_w",
    "tomllib",
    "uvicorn",
    "yaml",
}


def imported(text: str) -> set[str]:
    """The modules named in ``-X importtime`` lines of ``text``."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }


def test_the_import_lines_are_read() -> None:
    text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        340 |   supervisor_core.process\n"
        "2026-12-05 00:52:59,708 INFO ptm.daemon: restored 0 app(s)\n"
    )
    assert imported(text) == {"supervisor_core.process"}


@pytest.fixture
def profiled_daemon(ptm: Ptm, monkeypatch: pytest.MonkeyPatch) -> Ptm:
    """A daemon started by `ptm start` of two apps, writing its imports to daemon.log."""
    eco = ptm.ecosystem(("web", 1), ("worker", 2))
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    started = ptm("start", str(eco))
    monkeypatch.delenv("PYTHONPROFILEIMPORTTIME")
    assert started.returncode == 0, started.stderr
    ptm.wait_online(3)
    return ptm


def test_the_daemon_never_imports_what_only_one_feature_needs(profiled_daemon: Ptm) -> None:
    ptm = profiled_daemon
    for command in (["list"], ["describe", "web"], ["restart", "worker"], ["logs", "--nostream"]):
        ptm.ok(*command)
    ptm.wait_online(3)
    log = (ptm.home / "daemon.log").read_text()
    modules = imported(log)
    assert "supervisor_core.daemon._main" in modules  # the log holds the daemon's imports
    assert "starlette.routing" in modules
    assert sorted(NOT_IN_DAEMON & modules) == []
    assert sorted(m for m in modules if m.partition(".")[0] in NOT_IN_DAEMON) == []


def test_the_daemon_module_set_at_start() -> None:
    """``import supervisor_core.daemon._main`` (all the daemon loads before it serves) in a
    new interpreter: none of these modules, which ptm's code stopped loading, is back
    (decimal and difflib are loaded by none of Starlette, uvicorn, anyio, aiosqlite and
    psutil either; the RSS each one cost is in docs/benchmarks.md)."""
    code = "import sys, supervisor_core.daemon._main; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    modules = set(done.stdout.split())
    assert "starlette.routing" in modules  # the whole daemon was imported
    assert sorted(NOT_IN_DAEMON & modules) == []


def profiled(ptm: Ptm, *args: str) -> tuple[str, set[str]]:
    """``ptm ARGS`` with ``-X importtime``: its output and the modules it imported."""
    done = subprocess.run(
        [*PTM, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ptm.cwd,
        env=dict(os.environ, PYTHONPROFILEIMPORTTIME="1"),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, imported(done.stderr)


def heavy(modules: set[str]) -> list[str]:
    top = {m.partition(".")[0] for m in modules}
    return sorted(m for m in NOT_IN_JLIST if m in modules or m in top)


def test_jlist_imports_only_the_client(ptm: Ptm) -> None:
    ptm.ok("ping")
    out, modules = profiled(ptm, "jlist")
    assert out == "[]\n"
    assert "supervisor_core.client._light" in modules
    assert heavy(modules) == []


def test_jlist_starting_the_daemon_imports_no_http_library(ptm: Ptm) -> None:
    """With no daemon, ``ptm jlist`` starts one (as it always did) and asks again; the
    probe that waits for it is the same light GET."""
    assert ptm.daemon_pid() is None
    out, modules = profiled(ptm, "jlist")
    assert out == "[]\n"
    assert ptm.daemon_pid() is not None
    assert "supervisor_core.client._spawn" in modules
    assert heavy(modules) == []


def test_list_pid_ping_and_describe_import_no_http_library(ptm: Ptm) -> None:
    ptm.ok("start", str(ptm.ecosystem(("web", 1))))
    ptm.wait_online(1)
    commands = (["list"], ["ls"], ["pid"], ["pid", "web"], ["ping"], ["prettylist"])
    for command in (*commands, ["describe", "web"]):
        out, modules = profiled(ptm, *command)
        assert out, command
        assert heavy(modules) == [], command


def test_the_daemon_loads_prometheus_client_on_the_first_scrape(profiled_daemon: Ptm) -> None:
    ptm = profiled_daemon
    assert "prometheus_client" not in imported((ptm.home / "daemon.log").read_text())
    assert "ptm_" in ptm.ok("metrics")
    assert "prometheus_client" in imported(Path(ptm.home / "daemon.log").read_text())


def test_uvicorn_without_its_command_line_is_still_uvicorn() -> None:
    """daemon/_uvicorn.py enters uvicorn's package without its __init__: what that __init__
    exports is there (its command line on first use), and the server runs as usual."""
    code = (
        "import sys\n"
        "from supervisor_core.daemon._uvicorn import Config, Server\n"
        "assert 'click' not in sys.modules and 'uvicorn.main' not in sys.modules\n"
        "import uvicorn\n"
        "assert uvicorn.Config is Config and uvicorn.Server is Server, uvicorn\n"
        "assert uvicorn.__version__\n"
        "from uvicorn import Config as Again\n"
        "assert Again is Config\n"
        "config = Config(lambda scope: None, http='h11', ws='none', lifespan='off', loop='none')\n"
        "config.load()\n"
        "assert config.http_protocol_class.__name__ == 'H11Protocol'\n"
        "assert 'click' not in sys.modules\n"
        "assert callable(uvicorn.run) and 'click' in sys.modules\n"
        "try:\n"
        "    uvicorn.nothing\n"
        "except AttributeError:\n"
        "    print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
