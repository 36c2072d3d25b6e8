"""The guide's PM2 ecosystem file, as written there (paths moved into the test's folder), run by
the real ``ptm`` and daemon as .js, .json and .yaml, and through ``ptm import``; and PM2 files
that cannot be read: one line naming the file, exit 2, nothing started. Real ``node``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Ptm
from tests.pm2_guide import ENV, env_production, guide_project, write_forms

STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"  # YYYY-MM-DD HH:mm:ss


def env_lines(path: Path, expected: dict[str, str], timeout: float = 20) -> list[str]:
    """The stamped ``env NAME=value`` lines of ``path`` once the newest run printed
    ``expected`` (each run prints every variable, then ``listening``)."""
    wanted = [f"env {name}={value}" for name, value in expected.items()]
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        bare = [re.sub(rf"^{STAMP} ", "", line) for line in lines]
        if "listening" in bare:
            last = len(bare) - 1 - bare[::-1].index("listening")
            run = bare[: last + 1]
            start = max(i for i, line in enumerate(run) if line.startswith("env NODE_ENV="))
            if all(line in run[start:] for line in wanted):
                for line in lines:
                    assert re.fullmatch(rf"{STAMP} \S.*", line), line
                return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{wanted} not in {path} within {timeout} s: {lines}")
        time.sleep(0.05)


@pytest.mark.parametrize("form", ["js", "json", "yaml"])
def test_the_guides_file_starts_as_written(ptm: Ptm, form: str) -> None:
    folder = guide_project(ptm.cwd)
    path = write_forms(folder)[form]
    logs = ptm.cwd / "var" / "log" / "point-tron"
    out = ptm.ok("start", str(path))
    assert "started point-tron" in out
    (row,) = ptm.wait_online(1)
    assert row["out_file"] == str(logs / "out.log")
    env_lines(logs / "out.log", {**ENV, "LOG_DIR": "undefined"})
    assert re.fullmatch(rf"{STAMP} an error line\n", (logs / "error.log").read_text())

    out = ptm.ok("start", str(path), "--env", "production")
    assert "restarted point-tron" in out
    ptm.wait_rows(lambda rows: rows[0]["pid"] != row["pid"] and rows[0]["status"] == "online")
    env_lines(logs / "out.log", env_production(ptm.cwd))
    assert not (ptm.cwd / "ecosystem.toml").exists()
    assert "stopped point-tron" in ptm.ok("stop", str(path))  # the file names its apps


def test_ptm_import_writes_a_toml_file_that_starts_the_same_app(ptm: Ptm) -> None:
    folder = guide_project(ptm.cwd)
    done = ptm("import", str(folder / "ecosystem.config.js"))
    assert done.returncode == 0, done.stderr
    target = folder / "ecosystem.toml"
    assert f"[ptm] wrote {target} (point-tron)" in done.stdout
    assert "mapped as they are:" in done.stdout
    assert "  apps[0].log_date_format: moment tokens, read by ptm as they are" in done.stdout
    again = ptm("import", str(folder / "ecosystem.config.js"))
    assert again.returncode == 2 and "already exists; use --force" in again.stderr
    printed = ptm("import", str(folder / "ecosystem.config.js"), "-o", "-")
    assert printed.returncode == 0 and printed.stdout == target.read_text()
    assert printed.stderr.startswith("mapped as they are:\n")
    ptm.ok("start", str(target), "--env", "production")
    ptm.wait_online(1)
    env_lines(ptm.cwd / "var/log/point-tron/out.log", env_production(ptm.cwd))


def test_pm2_keys_without_equivalent_are_one_warning_and_the_app_runs(ptm: Ptm) -> None:
    folder = guide_project(ptm.cwd)
    ptm.write(
        "opt/point-tron/pm2.config.js",
        """
        module.exports = {
          apps: [{ name: 'api', script: './dist/index.js', vizion: false, pmx: true,
                   exec_mode: 'cluster', kill_timeout: 3000 }],
          deploy: { production: { user: 'node' } },
        };
        """,
    )
    path = folder / "pm2.config.js"
    done = ptm("start", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f'ptm: warning: {path}: apps[0].exec_mode: "cluster" -> "fork": PM2 cluster is Node\'s'
        " cluster module; in ptm each instance is its own process, and cluster mode means ptm"
        " binds a port from [apps.listen] and hands it to every instance on fd 3 (LISTEN_FDS);"
        " an app that binds PORT itself runs one instance per port",
        f"ptm: warning: {path}: PM2 keys with no ptm equivalent, ignored: deploy,"
        f" apps[0].vizion, apps[0].pmx (ptm import {path} says why)",
    ]
    ptm.wait_online(1)
    described = ptm.ok("describe", "api")
    assert re.search(r"\bkill_timeout\b.*\b3s\b", described), described  # 3000 ms


BAD = {
    "throws.config.js": (
        "module.exports = { apps: [] };\nthrow new Error('boom');\n",
        "line 2: Error: boom (evaluated by node)",
    ),
    "ecosystem.config.js": (
        "while (true) {}\n",
        "node did not finish evaluating the file within 10s (does it wait for something, or loop?)",
    ),
    "nothing.config.js": (
        "const apps = [{ name: 'a', script: 'a.js' }];\n",
        "exports nothing: no apps (module.exports = { apps: [...] })",
    ),
    "ecosystem.yaml": (
        "apps:\n  - name: a\n    script: 'a.js\n",
        "invalid YAML at line 4, column 1: found unexpected end of stream",
    ),
    "ecosystem.json": (
        '{"apps": [{"name": "a", "script": "a.js", "instances": "two"}]}',
        "apps[0].instances: must be an integer of at least 1, or \"max\" (one per CPU) (got 'two')",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_pm2_file_that_cannot_be_read_starts_nothing(ptm: Ptm, name: str) -> None:
    text, reason = BAD[name]
    ptm.write("a.js", "console.log('should never run');\n")
    path = ptm.write(name, text)
    done = ptm("start", str(path))
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == f"ptm: {path}: {reason}\n"
    assert ptm.jlist() == []


def test_a_restarted_daemon_brings_a_pm2_app_back_without_the_file(ptm: Ptm) -> None:
    folder = guide_project(ptm.cwd)
    path = folder / "ecosystem.config.js"
    ptm.ok("start", str(path), "--env", "production")
    ptm.wait_online(1)
    path.write_text("throw new Error('not read again');\n")  # the stored entry is what counts
    ptm.ok("kill")
    out = ptm.cwd / "var/log/point-tron/out.log"
    out.unlink()
    ptm.ok("ping")
    ptm.wait_online(1)
    env_lines(out, env_production(ptm.cwd))


def test_a_file_written_for_another_machine_converts_and_starts_where_its_files_are(
    ptm: Ptm,
) -> None:
    """ptm import needs neither the app's folder nor its script; ptm start does, and runs the
    app once they are there, with PM2's values: env null is "null", "10" is 10, and a
    six-field cron_restart is croner's."""
    server = ptm.cwd / "srv" / "api"  # not there yet: production's folder
    path = ptm.write(
        "ecosystem.config.js",
        f"""
        module.exports = {{ apps: [{{
          name: 'api', cwd: '{server}', script: 'server.py', max_restarts: '10',
          cron_restart: '0 0 3 * * *', env: {{ DEBUG: null, PORT: 3000, ON: true }},
        }}] }};
        """,
    )
    done = ptm("import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"ptm: warning: {path}: apps[0].cwd: no such directory: {server} (got '{server}'):"
        " not on this machine; written as it is (ptm start needs it where the app runs)",
        f"ptm: warning: {path}: apps[0].script: no such file in {server} (got 'server.py'):"
        " not on this machine; written as it is (ptm start needs it where the app runs)",
    ]
    target = ptm.cwd / "ecosystem.toml"
    for started in (path, target):
        refused = ptm("start", str(started))
        assert (refused.returncode, refused.stdout) == (2, ""), refused
        assert refused.stderr == (
            f"ptm: {started}: apps[0].cwd: no such directory: {server} (got '{server}')\n"
        )
    assert ptm.jlist() == []

    server.mkdir(parents=True)
    (server / "server.py").write_text(
        "import os, time\n"
        "for name in ('DEBUG', 'PORT', 'ON'):\n"
        "    print(f'env {name}={os.environ.get(name)}', flush=True)\n"
        "print('listening', flush=True)\n"
        "time.sleep(3600)\n"
    )
    ptm.ok("start", str(target))
    (row,) = ptm.wait_online(1)
    log = Path(row["out_file"])
    deadline = time.monotonic() + 20
    while "listening" not in (text := log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert [line.split(" ", 1)[1] for line in text.splitlines()[:3]] == [  # after the stamp
        "env DEBUG=null",
        "env PORT=3000",
        "env ON=true",
    ]
    described = ptm.ok("describe", "api")
    assert re.search(r"\bmax_restarts\b.*\b10\b", described), described
    assert re.search(r"\bcron_restart\b.*0 0 3 \* \* \*", described), described
