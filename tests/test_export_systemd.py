"""``ptm export systemd``: the mapping, checked by systemd itself, and a unit that runs."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from supervisor_core.config import load_ecosystem
from supervisor_core.export import oncalendar, systemd_units
from tests.helpers import free_port

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "systemd-analyze"
PTM = [str(Path(sys.executable).with_name("ptm"))]

SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.environ['GREETING']} from {os.getcwd()} {os.environ['API_TOKEN']}".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def guide_file(folder: Path, port: int) -> Path:
    """The settings of the operators' guide (process-management.zh.md), and more."""
    (folder / "server.py").write_text(SERVER)
    eco = folder / "ecosystem.toml"
    eco.write_text(
        textwrap.dedent(
            f"""
            [[apps]]
            name = "point-tron"
            script = "server.py"
            instances = 2
            max_memory_restart = "512M"
            restart_delay = "3s"
            max_restarts = 5
            min_uptime = "2s"
            kill_timeout = "8s"
            stop_exit_codes = [0]
            user = "nobody"
            cron_restart = "0 3 * * *"
            watch = ["server.py"]

            [apps.env]
            PORT = "{port}"
            GREETING = "hello world 100%"
            API_TOKEN = "s3cret \\"quoted\\" value"

            [apps.health_check]
            url = "http://127.0.0.1:{port}/health"
            """
        )
    )
    return eco


def settings(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_guides_settings_map_to_systemd(tmp_path: Path) -> None:
    units = systemd_units(load_ecosystem(guide_file(tmp_path, 3000)))
    files = {unit.name: unit for unit in units.files}
    assert sorted(files) == [
        "point-tron-restart.service",
        "point-tron-restart.timer",
        "point-tron-watch.path",
        "point-tron.env",
        "point-tron.target",
        "point-tron@.service",
    ]
    service = settings(files["point-tron@.service"].text)
    assert service["MemoryMax"] == ["512M"]
    assert service["MemoryHigh"] == ["460M"]  # a little below the limit
    assert service["RestartSec"] == ["3s"]
    assert service["StartLimitBurst"] == ["5"]
    assert service["StartLimitIntervalSec"] == ["30s"]  # (2 s + 3 s) x 6 runs
    assert service["TimeoutStopSec"] == ["8s"]
    assert service["KillMode"] == ["mixed"]
    assert service["Restart"] == ["always"]
    assert service["RestartPreventExitStatus"] == ["0"]
    assert service["User"] == ["nobody"]  # the guide's User=point-tron
    assert "Environment=PTM_INSTANCE=%i" in files["point-tron@.service"].text
    assert settings(files["point-tron.target"].text)["Wants"] == [
        "point-tron@0.service point-tron@1.service"
    ]
    assert settings(files["point-tron-restart.timer"].text)["OnCalendar"] == ["*-*-* 03:00:00"]
    # The secret is not in the unit, but in a 0600 file beside it.
    assert "s3cret" not in files["point-tron@.service"].text
    assert files["point-tron.env"].mode == 0o600
    assert "API_TOKEN=" in files["point-tron.env"].text
    # What systemd cannot do is said, in the unit and in the list.
    assert any("health check" in what for what in units.lost)
    assert "# Not carried over: the HTTP health check" in files["point-tron@.service"].text


def test_systemd_accepts_every_unit_without_a_warning(tmp_path: Path) -> None:
    eco = guide_file(tmp_path, 3000)
    out = tmp_path / "units"
    done = subprocess.run(
        [*PTM, "export", "systemd", str(eco), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "health check" in done.stderr  # the list of what is lost
    assert stat.S_IMODE((out / "point-tron.env").stat().st_mode) == 0o600
    units = sorted(str(p) for p in out.iterdir() if p.suffix != ".env")
    verify = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *units],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == "", verify.stderr  # it exits 0 on a key it ignores


@pytest.mark.parametrize(
    "cron",
    [
        "0 3 * * *",
        "*/15 * * * *",
        "30 2 * * 1-5",
        "0 3 1 * MON",
        "5 0 1,15 JAN,JUL *",
        "0 */5 * * * *",  # six fields, seconds first (croner, PM2)
        "*/20 30 3 * * *",
    ],
)
def test_cron_restart_becomes_calendars_systemd_reads(cron: str) -> None:
    for calendar in oncalendar(cron):
        done = subprocess.run(
            [SYSTEMD_ANALYZE, "calendar", calendar],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, (cron, calendar, done.stderr)


def test_a_seconds_field_becomes_the_calendars_seconds() -> None:
    assert oncalendar("0 3 * * *") == ["*-*-* 03:00:00"]
    assert oncalendar("15,45 0 3 * * *") == ["*-*-* 03:00:15,45"]
    assert oncalendar("* */30 * * * *") == ["*-*-* *:00,30:*"]


def test_an_exported_unit_runs_its_app(tmp_path: Path) -> None:
    """Where systemd is not PID 1: run the unit's ExecStart= with its Environment=,
    EnvironmentFile= and WorkingDirectory=, as systemd would, and find the app answering."""
    port = free_port()
    eco = guide_file(tmp_path, port)
    out = tmp_path / "units"
    subprocess.run([*PTM, "export", "systemd", str(eco), "-o", str(out)], check=True, timeout=30)
    unit = settings((out / "point-tron@.service").read_text())
    env = {"PATH": os.environ["PATH"]}
    for assignment in unit["Environment"]:
        key, _, value = shlex.split(assignment.replace("%%", "%"))[0].partition("=")
        env[key] = value.replace("%i", "0")
    for line in Path(unit["EnvironmentFile"][0]).read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = shlex.split(value)[0]
    argv = shlex.split(unit["ExecStart"][0])
    cwd = unit["WorkingDirectory"][0]
    app = subprocess.Popen(argv, cwd=cwd, env=env)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the exported app never answered"
                assert app.poll() is None, "the exported app exited"
                time.sleep(0.05)
        assert answer.text == f'hello world 100% from {tmp_path} s3cret "quoted" value'
        assert env["PTM_INSTANCE"] == "0"
    finally:
        app.terminate()
        app.wait(timeout=10)


def test_a_bad_file_is_refused_as_ptm_start_refuses_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[apps]]\nname = "x"\nscript = "missing.py"\n')
    done = subprocess.run(
        [*PTM, "export", "systemd", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == f"ptm: {bad}: apps[0].script: no such file in {tmp_path} (got 'missing.py')\n"
    )


def test_the_guides_unit_in_docs_is_what_ptm_writes(tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text()
    section = guide.split("## The guide's unit, and ptm's", 1)[1]
    toml = section.split("```toml\n", 1)[1].split("```", 1)[0]
    shown = section.split("```ini\n", 1)[1].split("```", 1)[0]
    (tmp_path / "ecosystem.toml").write_text(toml)
    bin_dir = str(Path(sys.executable).parent)
    done = subprocess.run(
        [*PTM, "export", "systemd", "ecosystem.toml", "--journal"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    written = done.stdout.replace(bin_dir, "/opt/point-tron/.venv/bin")
    assert written.replace(str(tmp_path), "/opt/point-tron") == shown


def test_the_example_exports_to_units_systemd_accepts(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "ecosystem.toml"
    bin_dir = str(Path(sys.executable).parent)
    subprocess.run(
        [*PTM, "export", "systemd", str(example), "--journal", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    units = sorted(str(p) for p in tmp_path.iterdir() if p.suffix != ".env")
    # Point-Tron runs in cluster mode: a socket unit, a template per instance and a target.
    assert [Path(u).name for u in units] == [
        "point-tron.socket",
        "point-tron.target",
        "point-tron@.service",
        "tron-sim.service",
    ]
    verify = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *units],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert (verify.returncode, verify.stderr) == (0, "")
