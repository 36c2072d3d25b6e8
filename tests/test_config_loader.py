"""The ecosystem loader: every key, its defaults, env overlays, paths and precise errors."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from supervisor_core.config import (
    AppSpec,
    Ecosystem,
    build_app,
    load_ecosystem,
    parse_ecosystem,
)
from supervisor_core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

BASE_APP = '[[apps]]\nname = "web"\nscript = "app.py"\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder as the current directory, with app.py, and PTM_HOME inside tmp_path."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("print('hi')\n")
    monkeypatch.chdir(project)
    ptm_home = tmp_path / "ptm-home"
    monkeypatch.setenv("PTM_HOME", str(ptm_home))
    return project


def load(text: str, env: str | None = None) -> Ecosystem:
    Path("ecosystem.toml").write_text(text)
    return load_ecosystem("ecosystem.toml", env=env)


def load_app(text: str, env: str | None = None) -> AppSpec:
    return load(text, env).apps[0]


def error(text: str, env: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text, env)
    message = str(info.value)
    assert "\n" not in message
    return info.value


def make_executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_public_names_are_in_step() -> None:
    import supervisor_core.config as config

    assert config.__all__ == sorted(config.__all__)
    for name in config.__all__:
        assert getattr(config, name) is not None
    for name in ("load_ecosystem", "parse_ecosystem", "build_app", "compile_date_format"):
        assert name in config.__all__
    assert {"parse_size", "parse_duration"} <= set(config.__all__)


# ---------------------------------------------------------------------------------------------
# Defaults and the seed


def test_defaults(home: Path, tmp_path: Path) -> None:
    app = load_app(BASE_APP)
    assert app.name == "web"
    assert app.argv == (sys.executable, str(home / "app.py"))
    assert app.interpreter == sys.executable
    assert app.script == "app.py"
    assert app.args == ()
    assert app.cwd == home
    assert app.instances == 1
    assert app.exec_mode == "fork"
    assert dict(app.env) == {}
    assert app.env_name is None
    restart = app.restart
    assert restart.autorestart is True
    assert restart.stop_exit_codes == frozenset()
    assert restart.max_restarts == 16
    assert restart.min_uptime == 1.0
    assert restart.restart_delay == 0.0
    assert restart.exp_backoff_restart_delay is None
    assert app.memory.max_memory_restart is None
    assert app.memory.memory_check_interval == 1.0
    assert app.stop.kill_signal is signal.SIGTERM
    assert app.stop.kill_timeout == 5.0
    assert app.readiness.wait_ready is False
    assert app.readiness.listen_timeout == 3.0
    assert app.logs is not None
    assert app.logs.out_file == tmp_path / "ptm-home" / "logs" / "web-out.log"
    assert app.logs.error_file == tmp_path / "ptm-home" / "logs" / "web-error.log"
    assert app.logs.merge_logs is True
    assert app.logs.date_format is not None
    assert app.logs.date_format.source == "YYYY-MM-DDTHH:mm:ss.SSSZ"
    assert app.logs.max_size == 10 * MIB
    assert app.logs.max_files == 10
    assert app.logs.compress is False
    assert app.logs.rotate_interval is None
    assert app.logs.compress_delay == 0
    assert app.logs.file_mode == 0o640
    assert app.health_check is None
    assert app.listen is None
    assert app.cron_restart is None
    assert not app.watch.enabled
    assert app.watch.ignore == ()
    # Nothing is created by loading.
    assert not (tmp_path / "ptm-home").exists()


def test_ptm_home_defaults_to_dot_ptm(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTM_HOME")
    monkeypatch.setenv("HOME", str(home / "user"))
    app = load_app(BASE_APP)
    assert app.logs is not None
    assert app.logs.out_file == home / "user" / ".ptm" / "logs" / "web-out.log"


SEED_TOML = """
# The seed's ecosystem.config.js (process-management.zh.md), translated to TOML as written.
[[apps]]
name = 'point-tron'
script = './dist/index.js'
cwd = 'opt/point-tron'
exec_mode = 'fork'
instances = 1
autorestart = true
watch = false
max_memory_restart = '512M'
out_file = '/var/log/point-tron/out.log'
error_file = '/var/log/point-tron/error.log'
log_date_format = 'YYYY-MM-DD HH:mm:ss'
merge_logs = true
log_file_max_size = '100MB'
log_file_max_files = 10

[apps.env]
NODE_ENV = 'production'
PORT = '3000'
DB_PATH = './data/point-tron.db'
TRON_RPC_URL = 'https://api.trongrid.io'
TRON_POLLING_INTERVAL = '3000'

[apps.env_production]
NODE_ENV = 'production'
PORT = '3000'
DB_PATH = '/var/lib/point-tron/data/point-tron.db'
LOG_DIR = '/var/log/point-tron'
"""


@pytest.fixture
def seed_project(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed's layout: opt/point-tron/dist/index.js, and a `node` on PATH."""
    script = home / "opt" / "point-tron" / "dist" / "index.js"
    script.parent.mkdir(parents=True)
    script.write_text("console.log('hi')\n")  # not executable: node runs it
    node = make_executable(tmp_path / "bin" / "node")
    monkeypatch.setenv("PATH", f"{node.parent}{os.pathsep}{os.environ['PATH']}")
    return home / "opt" / "point-tron"


def test_seed_pm2_settings_load_as_written(seed_project: Path, tmp_path: Path) -> None:
    app = load_app(SEED_TOML)
    assert app.name == "point-tron"
    assert app.cwd == seed_project
    assert app.argv == (str(tmp_path / "bin" / "node"), str(seed_project / "dist" / "index.js"))
    assert app.exec_mode == "fork"
    assert app.instances == 1
    assert app.restart.autorestart is True
    assert not app.watch.enabled
    assert app.memory.max_memory_restart == 512 * MIB
    assert app.logs is not None
    assert app.logs.out_file == Path("/var/log/point-tron/out.log")
    assert app.logs.error_file == Path("/var/log/point-tron/error.log")
    assert app.logs.date_format is not None
    assert app.logs.date_format.source == "YYYY-MM-DD HH:mm:ss"
    assert app.logs.merge_logs is True
    assert app.logs.max_size == 100 * MIB
    assert app.logs.max_files == 10
    assert app.env["DB_PATH"] == "./data/point-tron.db"
    assert app.env_name is None


def test_seed_env_production(seed_project: Path) -> None:
    app = load_app(SEED_TOML, env="production")
    assert app.env_name == "production"
    assert dict(app.env) == {
        "NODE_ENV": "production",
        "PORT": "3000",
        "DB_PATH": "/var/lib/point-tron/data/point-tron.db",
        "TRON_RPC_URL": "https://api.trongrid.io",
        "TRON_POLLING_INTERVAL": "3000",
        "LOG_DIR": "/var/log/point-tron",
    }


def test_seed_kill_and_listen_timeouts_in_pm2_milliseconds(home: Path) -> None:
    app = load_app(BASE_APP + "kill_timeout = 1600\nlisten_timeout = 3000\nmin_uptime = 1000\n")
    assert app.stop.kill_timeout == pytest.approx(1.6)
    assert app.readiness.listen_timeout == pytest.approx(3.0)
    assert app.restart.min_uptime == pytest.approx(1.0)


def test_every_key(home: Path, tmp_path: Path) -> None:
    (home / "src").mkdir()
    app = load_app(
        """
[defaults]
log_date_format = "YYYY-MM-DD HH:mm:ss"
kill_timeout = "8s"

[[apps]]
name = "api.v2_main-1"
script = "app.py"
args = "--port 3000 --name 'my api'"
cwd = "."
instances = "max"
exec_mode = "cluster"
autorestart = false
stop_exit_codes = [0, 3]
max_restarts = 5
min_uptime = "2s"
restart_delay = "250ms"
exp_backoff_restart_delay = "100ms"
max_memory_restart = "1.5G"
memory_check_interval = "500ms"
kill_signal = "INT"
wait_ready = true
listen_timeout = "10s"
cron_restart = "0  3 * * MON-FRI"
watch = ["src", "app.py"]
ignore_watch = ["data", "logs"]
out_file = "logs/out.log"
error_file = "logs/err.log"
merge_logs = false
log_file_max_size = 2048
log_file_max_files = 3
log_compress = true
log_compress_delay = 2
log_rotate_interval = "daily"
log_file_mode = "0600"

[apps.env]
PORT = 3000
DEBUG = true
RATIO = 0.5

[apps.health_check]
url = "https://127.0.0.1:3000/health"
interval = "5s"
timeout = "1s"
failures = 2

[apps.listen]
host = "::1"
port = 3000
"""
    )
    assert app.name == "api.v2_main-1"
    assert app.args == ("--port", "3000", "--name", "my api")
    assert app.argv == (sys.executable, str(home / "app.py"), "--port", "3000", "--name", "my api")
    assert app.instances == (os.cpu_count() or 1)
    assert app.exec_mode == "cluster"
    assert app.restart.autorestart is False
    assert app.restart.stop_exit_codes == frozenset({0, 3})
    assert app.restart.max_restarts == 5
    assert app.restart.min_uptime == 2.0
    assert app.restart.restart_delay == pytest.approx(0.25)
    assert app.restart.exp_backoff_restart_delay == pytest.approx(0.1)
    assert app.memory.max_memory_restart == 1536 * MIB
    assert app.memory.memory_check_interval == pytest.approx(0.5)
    assert app.stop.kill_signal is signal.SIGINT
    assert app.stop.kill_timeout == 8.0  # from [defaults]
    assert app.readiness.wait_ready is True
    assert app.readiness.listen_timeout == 10.0
    assert app.cron_restart == "0 3 * * MON-FRI"
    assert app.watch.paths == (home / "src", home / "app.py")
    assert app.watch.ignore == ("data", "logs")
    assert app.logs is not None
    assert app.logs.out_file == home / "logs" / "out.log"
    assert app.logs.error_file == home / "logs" / "err.log"
    assert app.logs.merge_logs is False
    assert app.logs.date_format is not None
    assert app.logs.date_format.source == "YYYY-MM-DD HH:mm:ss"
    assert app.logs.max_size == 2048
    assert app.logs.max_files == 3
    assert app.logs.compress is True
    assert app.logs.compress_delay == 2
    assert app.logs.rotate_interval == "daily"
    assert app.logs.file_mode == 0o600
    assert dict(app.env) == {"PORT": "3000", "DEBUG": "true", "RATIO": "0.5"}
    assert app.health_check is not None
    assert app.health_check.url == "https://127.0.0.1:3000/health"
    assert (app.health_check.interval, app.health_check.timeout) == (5.0, 1.0)
    assert app.health_check.failures == 2
    assert app.listen is not None
    assert (app.listen.host, app.listen.port) == ("::1", 3000)


def test_health_check_and_listen_defaults(home: Path) -> None:
    app = load_app(
        BASE_APP + 'exec_mode = "cluster"\n'
        '[apps.health_check]\nurl = "http://127.0.0.1:8000/"\n'
        "[apps.listen]\nport = 8000\n"
    )
    assert app.health_check is not None
    assert (app.health_check.interval, app.health_check.timeout) == (10.0, 2.0)
    assert app.health_check.failures == 3
    assert app.listen is not None
    assert app.listen.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("kill_signal = 'SIGTERM'", signal.SIGTERM),
        ("kill_signal = 'TERM'", signal.SIGTERM),
        ("kill_signal = 'sigint'", signal.SIGINT),
        ("kill_signal = 'SIGHUP'", signal.SIGHUP),
        ("kill_signal = 'QUIT'", signal.SIGQUIT),
    ],
)
def test_kill_signal_names(home: Path, line: str, expected: signal.Signals) -> None:
    assert load_app(BASE_APP + line + "\n").stop.kill_signal is expected


@pytest.mark.parametrize(
    ("lines", "check"),
    [
        ("stop_exit_codes = 0", lambda a: a.restart.stop_exit_codes == frozenset({0})),
        ("exp_backoff_restart_delay = 0", lambda a: a.restart.exp_backoff_restart_delay is None),
        ("kill_timeout = 0", lambda a: a.stop.kill_timeout == 0.0),
        ("max_restarts = 0", lambda a: a.restart.max_restarts == 0),
        ("instances = 3", lambda a: a.instances == 3),
        ("cron_restart = ''", lambda a: a.cron_restart is None),
        ("cron_restart = '*/15 1-5,23 1 jan-dec/2 0,7'", lambda a: a.cron_restart is not None),
        ("cron_restart = '0 */5 * * * *'", lambda a: a.cron_restart == "0 */5 * * * *"),
        ("log_date_format = ''", lambda a: a.logs.date_format is None),
        ("log_date_format = '%H:%M:%S.%f'", lambda a: a.logs.date_format.source == "%H:%M:%S.%f"),
        ("watch = true", lambda a: a.watch.paths == (Path.cwd(),)),
        ("watch = 'app.py'", lambda a: a.watch.paths == (Path.cwd() / "app.py",)),
        ("watch = []", lambda a: not a.watch.enabled),
        ("ignore_watch = 'node_modules'", lambda a: a.watch.ignore == ("node_modules",)),
        ("out_file = '/dev/null'", lambda a: a.logs.out_file == Path("/dev/null")),
        ("args = ['a b', 'c']", lambda a: a.argv[2:] == ("a b", "c")),
        ("log_rotate_interval = 'hourly'", lambda a: a.logs.rotate_interval == "hourly"),
        ("log_rotate_interval = ''", lambda a: a.logs.rotate_interval is None),
        ("log_compress_delay = true", lambda a: a.logs.compress_delay == 1),
        ("log_compress_delay = false", lambda a: a.logs.compress_delay == 0),
        ("log_file_mode = '640'", lambda a: a.logs.file_mode == 0o640),
        ("log_file_mode = '0o660'", lambda a: a.logs.file_mode == 0o660),
        ("log_file_mode = '0644'", lambda a: a.logs.file_mode == 0o644),
        (
            "interpreter = 'none'\nscript = 'run.sh'",
            lambda a: a.argv == (str(Path.cwd() / "run.sh"),),
        ),
    ],
)
def test_accepted_values(home: Path, lines: str, check: object) -> None:
    make_executable(home / "run.sh")
    text = BASE_APP.replace('script = "app.py"\n', "") if "script" in lines else BASE_APP
    app = load_app(text + lines + "\n")
    assert callable(check)
    assert check(app)


# ---------------------------------------------------------------------------------------------
# What runs: script, command, interpreter, args


def test_script_on_path(home: Path) -> None:
    app = load_app('[[apps]]\nname = "x"\nscript = "sh"\nargs = ["-c", "exit 0"]\n')
    assert app.argv == (shutil.which("sh"), "-c", "exit 0")
    assert app.interpreter is None


def test_script_in_cwd_wins_over_path(home: Path) -> None:
    make_executable(home / "sh")
    app = load_app('[[apps]]\nname = "x"\nscript = "sh"\n')
    assert app.argv == (str(home / "sh"),)


def test_executable_script_runs_directly(home: Path) -> None:
    make_executable(home / "bin" / "serve")
    app = load_app('[[apps]]\nname = "x"\nscript = "bin/serve"\nargs = "--fast"\n')
    assert app.argv == (str(home / "bin" / "serve"), "--fast")


def test_explicit_interpreter(home: Path) -> None:
    text = f'[[apps]]\nname = "x"\nscript = "app.py"\ninterpreter = "{sys.executable}"\n'
    app = load_app(text + 'args = ["-v"]\n')
    assert app.argv == (sys.executable, str(home / "app.py"), "-v")
    assert app.interpreter == sys.executable


def test_interpreter_found_on_the_apps_own_path(home: Path, tmp_path: Path) -> None:
    runner = make_executable(tmp_path / "tools" / "myrunner")
    (home / "job.txt").write_text("")
    app = load_app(
        '[[apps]]\nname = "x"\nscript = "job.txt"\ninterpreter = "myrunner"\n'
        f'[apps.env]\nPATH = "{runner.parent}"\n'
    )
    assert app.argv == (str(runner), str(home / "job.txt"))
    assert app.env["PATH"] == str(runner.parent)


def test_command_string_is_split_like_a_shell(home: Path) -> None:
    app = load_app('[[apps]]\nname = "x"\ncommand = "sh -c \'echo hi there\'"\n')
    assert app.argv == (shutil.which("sh"), "-c", "echo hi there")
    assert app.script == "sh -c 'echo hi there'"
    assert app.interpreter is None


def test_command_list(home: Path) -> None:
    make_executable(home / "bin" / "serve")
    app = load_app('[[apps]]\nname = "x"\ncommand = ["./bin/serve", "--port", "80 80"]\n')
    assert app.argv == (str(home / "bin" / "serve"), "--port", "80 80")
    assert app.script == "./bin/serve --port '80 80'"


# ---------------------------------------------------------------------------------------------
# Paths


def test_relative_cwd_is_taken_from_the_file_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "services" / "api").mkdir(parents=True)
    (project / "services" / "api" / "main.py").write_text("")
    (project / "ecosystem.toml").write_text(
        '[[apps]]\nname = "api"\nscript = "main.py"\ncwd = "services/api"\n'
        'out_file = "logs/api.log"\nerror_file = "~/api-err.log"\nwatch = ["."]\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    ecosystem = load_ecosystem(project / "ecosystem.toml")
    app = ecosystem.apps[0]
    assert ecosystem.path == project / "ecosystem.toml"
    assert app.cwd == project / "services" / "api"
    assert app.argv[1] == str(project / "services" / "api" / "main.py")
    # Log files are relative to the file's folder, not to cwd; "~" is the user's home.
    assert app.logs is not None
    assert app.logs.out_file == project / "logs" / "api.log"
    assert app.logs.error_file == tmp_path / "user" / "api-err.log"
    # watch paths are relative to cwd.
    assert app.watch.paths == (project / "services" / "api",)


def test_relative_file_path_and_dot_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "w.py").write_text("")
    (tmp_path / "a" / "b" / "eco.toml").write_text(
        '[[apps]]\nname = "w"\nscript = "w.py"\ncwd = "../../shared"\n'
    )
    monkeypatch.chdir(tmp_path / "a")
    ecosystem = load_ecosystem("b/eco.toml")
    assert ecosystem.path == tmp_path / "a" / "b" / "eco.toml"
    assert ecosystem.apps[0].cwd == tmp_path / "shared"


# ---------------------------------------------------------------------------------------------
# Environments


ENV_TOML = """
[defaults.env]
SHARED = "d"
LEVEL = "defaults"

[defaults.env_production]
FROM_DEFAULTS_PROD = "1"

[[apps]]
name = "a"
script = "app.py"
[apps.env]
LEVEL = "app"
PORT = 1
[apps.env_production]
PORT = 80
[apps.env_staging]
PORT = 8080

[[apps]]
name = "b"
script = "app.py"
"""


def test_env_without_overlay(home: Path) -> None:
    a, b = load(ENV_TOML).apps
    assert dict(a.env) == {"SHARED": "d", "LEVEL": "app", "PORT": "1"}
    assert dict(b.env) == {"SHARED": "d", "LEVEL": "defaults"}
    assert a.env_name is None and b.env_name is None


def test_env_overlay_on_top_of_env(home: Path) -> None:
    a, b = load(ENV_TOML, env="production").apps
    assert dict(a.env) == {"SHARED": "d", "LEVEL": "app", "PORT": "80", "FROM_DEFAULTS_PROD": "1"}
    assert dict(b.env) == {"SHARED": "d", "LEVEL": "defaults", "FROM_DEFAULTS_PROD": "1"}
    assert a.env_name == "production" and b.env_name == "production"


def test_env_overlay_only_on_apps_that_define_it(home: Path) -> None:
    a, b = load(ENV_TOML, env="staging").apps
    assert a.env["PORT"] == "8080" and a.env_name == "staging"
    assert "PORT" not in b.env and b.env_name is None


def test_env_is_read_only(home: Path) -> None:
    app = load_app(ENV_TOML)
    with pytest.raises(TypeError):
        app.env["X"] = "1"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Mistakes: one line each, naming the file, the key path and the value


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # Unknown keys, with the closest name.
        (
            'max_memory_restar = "512M"',
            "apps[0].max_memory_restar: unknown key; did you mean max_memory_restart?",
        ),
        (
            'maxMemoryRestart = "512M"',
            "apps[0].maxMemoryRestart: unknown key; did you mean max_memory_restart?",
        ),
        ("killTimeout = 1600", "apps[0].killTimeout: unknown key; did you mean kill_timeout?"),
        (
            'exec_interpreter = "python3"',
            "apps[0].exec_interpreter: unknown key; did you mean interpreter? (PM2's "
            "exec_interpreter is interpreter in ptm)",
        ),
        (
            'err_file = "e.log"',
            "apps[0].err_file: unknown key; did you mean error_file? (PM2's err_file is error_file "
            "in ptm)",
        ),
        (
            'namespace = "x"',
            "apps[0].namespace: unknown key; this PM2 option is not supported by ptm",
        ),
        ("colour = 1", "apps[0].colour: unknown key"),
        ("env_ = {}", "apps[0].env_: unknown key; did you mean env?"),
        # Counts and modes.
        (
            "instances = 0",
            'apps[0].instances: must be an integer of at least 1, or "max" (one per CPU) (got 0)',
        ),
        (
            'instances = "many"',
            'apps[0].instances: must be an integer of at least 1, or "max" (one per CPU) (got '
            "'many')",
        ),
        (
            "instances = true",
            'apps[0].instances: must be an integer of at least 1, or "max" (one per CPU) (got '
            "True)",
        ),
        (
            'exec_mode = "cluster_mode"',
            'apps[0].exec_mode: must be "fork" or "cluster" (got \'cluster_mode\')',
        ),
        (
            'exec_mode = "cluster"',
            'apps[0].listen: required when exec_mode = "cluster" (the port the instances share)',
        ),
        (
            "[apps.listen]\nport = 3000",
            'apps[0].listen: only allowed with exec_mode = "cluster"; remove it or use cluster '
            "mode",
        ),
        (
            'exec_mode = "cluster"\n[apps.listen]\nport = 0',
            "apps[0].listen.port: must be between 1 and 65535 (got 0)",
        ),
        (
            'exec_mode = "cluster"\n[apps.listen]\nport = 70000',
            "apps[0].listen.port: must be between 1 and 65535 (got 70000)",
        ),
        ('exec_mode = "cluster"\n[apps.listen]\nhost = "::"', "apps[0].listen.port: required"),
        (
            'exec_mode = "cluster"\n[apps.listen]\nport = 1\nhost = "a b"',
            "apps[0].listen.host: must be a host name or address without spaces (got 'a b')",
        ),
        (
            'exec_mode = "cluster"\n[apps.listen]\nport = 1\naddress = "::"',
            "apps[0].listen.address: unknown key",
        ),
        ('exec_mode = "cluster"\nlisten = 3000', "apps[0].listen: must be a table (got 3000)"),
        # Restart policy.
        ('autorestart = "yes"', "apps[0].autorestart: must be true or false (got 'yes')"),
        (
            "stop_exit_codes = [0, 256]",
            "apps[0].stop_exit_codes: must be a list of exit codes (integers 0-255) (got [0, 256])",
        ),
        (
            'stop_exit_codes = ["0"]',
            "apps[0].stop_exit_codes: must be a list of exit codes (integers 0-255) (got ['0'])",
        ),
        ("max_restarts = -1", "apps[0].max_restarts: must be at least 0 (got -1)"),
        ('max_restarts = "16"', "apps[0].max_restarts: must be an integer (got '16')"),
        (
            'min_uptime = "-1s"',
            'apps[0].min_uptime: not a duration; use a number with ms, s, m or h, such as "10s" '
            "(got '-1s')",
        ),
        (
            "min_uptime = 1.5",
            "apps[0].min_uptime: a bare number is milliseconds and must be an integer; write "
            '"1.5s" for seconds (got 1.5)',
        ),
        (
            'restart_delay = "soon"',
            "apps[0].restart_delay: not a duration; use a number with ms, s, m or h, such as "
            "\"10s\" (got 'soon')",
        ),
        (
            "exp_backoff_restart_delay = -100",
            "apps[0].exp_backoff_restart_delay: a duration cannot be negative (got -100)",
        ),
        # Memory.
        (
            'max_memory_restart = "512X"',
            "apps[0].max_memory_restart: not a size; use bytes or a number with K, M or G, such as "
            "\"512M\" (got '512X')",
        ),
        ("max_memory_restart = 0", "apps[0].max_memory_restart: must be more than 0 bytes (got 0)"),
        (
            "max_memory_restart = -5",
            "apps[0].max_memory_restart: a size cannot be negative (got -5)",
        ),
        ("memory_check_interval = 0", "apps[0].memory_check_interval: must be more than 0 (got 0)"),
        # Stopping and readiness.
        (
            'kill_signal = "SIGFOO"',
            'apps[0].kill_signal: unknown signal; use a name such as "SIGTERM" or "SIGINT" (got '
            "'SIGFOO')",
        ),
        (
            "kill_signal = 15",
            'apps[0].kill_signal: must be a signal name such as "SIGTERM" (got 15)',
        ),
        ("kill_timeout = -1", "apps[0].kill_timeout: a duration cannot be negative (got -1)"),
        ("wait_ready = 1", "apps[0].wait_ready: must be true or false (got 1)"),
        ('listen_timeout = "0s"', "apps[0].listen_timeout: must be more than 0 (got '0s')"),
        # Cron.
        (
            'cron_restart = "0 3 * *"',
            "apps[0].cron_restart: a cron expression has 5 fields: minute hour day-of-month month "
            "day-of-week, or 6 (seconds first) (got '0 3 * *')",
        ),
        (
            'cron_restart = "61 * * * *"',
            "apps[0].cron_restart: cron minute 61 is outside 0-59 (got '61 * * * *')",
        ),
        (
            'cron_restart = "0 24 * * *"',
            "apps[0].cron_restart: cron hour 24 is outside 0-23 (got '0 24 * * *')",
        ),
        (
            'cron_restart = "0 0 0 * *"',
            "apps[0].cron_restart: cron day of month 0 is outside 1-31 (got '0 0 0 * *')",
        ),
        (
            'cron_restart = "*/0 * * * *"',
            "apps[0].cron_restart: cron minute step in '*/0' must be at least 1 (got '*/0 * * * "
            "*')",
        ),
        (
            'cron_restart = "0 3 * * FUNDAY"',
            "apps[0].cron_restart: cron day of week 'FUNDAY' is not a number (got '0 3 * * "
            "FUNDAY')",
        ),
        (
            'cron_restart = "5-1 * * * *"',
            "apps[0].cron_restart: cron minute range '5-1' goes backwards (got '5-1 * * * *')",
        ),
        (
            'cron_restart = "1,,2 * * * *"',
            "apps[0].cron_restart: cron minute '' is not a number, *, range, step or list (got "
            "'1,,2 * * * *')",
        ),
        (
            "cron_restart = 0",
            'apps[0].cron_restart: must be a cron expression such as "0 3 * * *" (got 0)',
        ),
        # Watching.
        ('watch = "nope"', "apps[0].watch: no such file or directory: {home}/nope (got 'nope')"),
        ("watch = 3", "apps[0].watch: must be true, false, a path or a list of paths (got 3)"),
        (
            "ignore_watch = [1]",
            "apps[0].ignore_watch: must be a list of non-empty strings (got [1])",
        ),
        # Logs.
        ('out_file = ""', "apps[0].out_file: must not be empty (got '')"),
        ('error_file = "."', "apps[0].error_file: is a directory: {home} (got '.')"),
        ('merge_logs = "true"', "apps[0].merge_logs: must be true or false (got 'true')"),
        (
            'log_date_format = "Qo"',
            "apps[0].log_date_format: date token 'Qo' is not supported; put literal text in "
            "[brackets] (got 'Qo')",
        ),
        (
            "log_date_format = 5",
            "apps[0].log_date_format: must be a string (moment tokens, or strftime with %) (got 5)",
        ),
        (
            'log_file_max_size = "100XB"',
            "apps[0].log_file_max_size: not a size; use bytes or a number with K, M or G, such as "
            "\"512M\" (got '100XB')",
        ),
        ("log_file_max_files = 0", "apps[0].log_file_max_files: must be at least 1 (got 0)"),
        ('log_compress = "gzip"', "apps[0].log_compress: must be true or false (got 'gzip')"),
        (
            'log_rotate_interval = "weekly"',
            'apps[0].log_rotate_interval: must be "daily", "hourly" or "" (size only)'
            " (got 'weekly')",
        ),
        (
            "log_compress_delay = -1",
            "apps[0].log_compress_delay: must be a number of rotated files to leave uncompressed"
            " (0 or more), or true/false like logrotate's delaycompress (got -1)",
        ),
        (
            "log_file_mode = 0o640",
            'apps[0].log_file_mode: must be an octal mode in quotes, such as "0640" (got 416)',
        ),
        (
            'log_file_mode = "0789"',
            "apps[0].log_file_mode: must be an octal mode in quotes, such as \"0640\" (got '0789')",
        ),
        (
            'log_file_mode = "4640"',
            "apps[0].log_file_mode: must not set setuid, setgid or sticky bits (at most 0777)"
            " (got '4640')",
        ),
        (
            'log_file_mode = "0440"',
            "apps[0].log_file_mode: must let the owner read and write (0600 at least) (got '0440')",
        ),
        (
            'log_file_mode = "0666"',
            "apps[0].log_file_mode: must not let every user write to the logs (no o+w)"
            " (got '0666')",
        ),
        # Working directory and program.
        ('cwd = "missing"', "apps[0].cwd: no such directory: {home}/missing (got 'missing')"),
        ('cwd = "app.py"', "apps[0].cwd: not a directory: {home}/app.py (got 'app.py')"),
        ("cwd = 1", "apps[0].cwd: must be a string (got 1)"),
        ("args = 5", "apps[0].args: must be a string or a list of strings (got 5)"),
        (
            'args = "--name \'unclosed"',
            'apps[0].args: cannot split like a shell: No closing quotation (got "--name '
            "'unclosed\")",
        ),
        (
            'interpreter = "no-such-python-xyz"',
            "apps[0].interpreter: program not found (looked in PATH) (got 'no-such-python-xyz')",
        ),
        (
            'command = "sh"',
            "apps[0].command: cannot be combined with script; use one of them (got 'sh')",
        ),
        # Environment.
        (
            "[apps.env]\nPORT = [1]",
            "apps[0].env.PORT: must be a string (numbers and booleans are converted) (got [1])",
        ),
        ('[apps.env]\n"" = "x"', "apps[0].env.: not a valid environment variable name"),
        ('[apps.env]\n"A=B" = "x"', "apps[0].env.A=B: not a valid environment variable name"),
        ('env = "PORT=1"', "apps[0].env: must be a table (got 'PORT=1')"),
        (
            "[apps.env_production]\nWHEN = 2024-01-01",
            "apps[0].env_production.WHEN: must be a string (numbers and booleans are converted) "
            "(got datetime.date(2024, 1, 1))",
        ),
        # Health check.
        (
            '[apps.health_check]\nurl = "ftp://127.0.0.1/"',
            "apps[0].health_check.url: must be an http:// or https:// URL (got 'ftp://127.0.0.1/')",
        ),
        (
            '[apps.health_check]\nurl = "http://"',
            "apps[0].health_check.url: must be an http:// or https:// URL (got 'http://')",
        ),
        ('[apps.health_check]\ninterval = "1s"', "apps[0].health_check.url: required"),
        (
            '[apps.health_check]\nurl = "http://127.0.0.1:1/h"\nfailures = 0',
            "apps[0].health_check.failures: must be at least 1 (got 0)",
        ),
        (
            '[apps.health_check]\nurl = "http://127.0.0.1:1/h"\ntimeout = "0s"',
            "apps[0].health_check.timeout: must be more than 0 (got '0s')",
        ),
        (
            '[apps.health_check]\nurl = "http://127.0.0.1:1/h"\nretries = 3',
            "apps[0].health_check.retries: unknown key",
        ),
        (
            '[apps.health_check]\nurl = "http://127.0.0.1:1/h"\nintervall = "5s"',
            "apps[0].health_check.intervall: unknown key; did you mean interval?",
        ),
        ("health_check = true", "apps[0].health_check: must be a table (got True)"),
    ],
)
def test_app_mistakes(home: Path, lines: str, message: str) -> None:
    # Tables must come after the plain keys of [[apps]]; BASE_APP has only plain keys.
    err = error(BASE_APP + lines + "\n")
    assert str(err) == "ecosystem.toml: " + message.replace("{home}", str(home))
    assert err.file == "ecosystem.toml"
    assert err.key == message.split(": ", 1)[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The file as a whole.
        (
            'app = []\n[[apps]]\nname = "a"\nscript = "app.py"',
            "app: unknown key; did you mean apps?",
        ),
        (
            'notfy = []\n[[apps]]\nname = "a"\nscript = "app.py"',
            "notfy: unknown key; did you mean notify?",
        ),
        ("", "apps: no apps; add at least one [[apps]] entry"),
        ("apps = []", "apps: must be a non-empty array of tables ([[apps]]) (got [])"),
        ("apps = 1", "apps: must be a non-empty array of tables ([[apps]]) (got 1)"),
        ("apps = [1]", "apps[0]: must be a table ([[apps]]) (got 1)"),
        (
            '[apps]\nname = "a"',
            "apps: must be a non-empty array of tables ([[apps]]) (got {'name': 'a'})",
        ),
        # Names.
        ('[[apps]]\nscript = "app.py"', "apps[0].name: required"),
        (
            '[[apps]]\nname = "my app"\nscript = "app.py"',
            "apps[0].name: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names log files) (got 'my app')",
        ),
        (
            '[[apps]]\nname = "a/b"\nscript = "app.py"',
            "apps[0].name: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names log files) (got 'a/b')",
        ),
        (
            '[[apps]]\nname = ".hidden"\nscript = "app.py"',
            "apps[0].name: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names log files) (got '.hidden')",
        ),
        (
            '[[apps]]\nname = ""\nscript = "app.py"',
            "apps[0].name: must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names log files) (got '')",
        ),
        (
            '[[apps]]\nname = "123"\nscript = "app.py"',
            "apps[0].name: must not be only digits (numbers mean process ids) (got '123')",
        ),
        (
            '[[apps]]\nname = "all"\nscript = "app.py"',
            "apps[0].name: 'all' is reserved (ptm stop all) (got 'all')",
        ),
        ('[[apps]]\nname = 7\nscript = "app.py"', "apps[0].name: must be a string (got 7)"),
        (
            '[[apps]]\nname = "web"\nscript = "app.py"\n[[apps]]\nname = "worker"\nscript = '
            '"app.py"\n'
            '[[apps]]\nname = "web"\nscript = "app.py"',
            "apps[2].name: duplicate name, also used by apps[0] (got 'web')",
        ),
        # What to run.
        ('[[apps]]\nname = "a"', "apps[0].script: required (or command)"),
        ('[[apps]]\nname = "a"\nscript = ""', "apps[0].script: must not be empty (got '')"),
        (
            '[[apps]]\nname = "a"\nscript = "missing.py"',
            "apps[0].script: no such file in {home} (got 'missing.py')",
        ),
        (
            '[[apps]]\nname = "a"\nscript = "no-such-program-xyz"',
            "apps[0].script: no such file in {home}, nor a program on PATH (got "
            "'no-such-program-xyz')",
        ),
        (
            '[[apps]]\nname = "a"\nscript = "./no-such-program-xyz"',
            "apps[0].script: no such file in {home} (got './no-such-program-xyz')",
        ),
        (
            '[[apps]]\nname = "a"\nscript = "data.txt"',
            "apps[0].script: is not executable; set interpreter (for example interpreter = "
            "\"node\") or chmod +x it (got 'data.txt')",
        ),
        (
            '[[apps]]\nname = "a"\nscript = "main.xyzjs"\ninterpreter = "sh"',
            "apps[0].script: no such file in {home} (got 'main.xyzjs')",
        ),
        (
            '[[apps]]\nname = "a"\nscript = "app.py"\ninterpreter = "./py"',
            "apps[0].interpreter: program not found (looked in PATH) (got './py')",
        ),
        (
            '[[apps]]\nname = "a"\nscript = "app.rb"\n[apps.env]\nPATH = "/nonexistent"',
            "apps[0].interpreter: 'ruby' (the default for .rb scripts) is not on the app's env "
            "PATH; set interpreter",
        ),
        ('[[apps]]\nname = "a"\ncommand = []', "apps[0].command: must not be empty (got [])"),
        ('[[apps]]\nname = "a"\ncommand = ""', "apps[0].command: must not be empty (got '')"),
        (
            '[[apps]]\nname = "a"\ncommand = 5',
            "apps[0].command: must be a string or a list of strings (got 5)",
        ),
        (
            '[[apps]]\nname = "a"\ncommand = "no-such-prog-xyz --x"',
            "apps[0].command: program 'no-such-prog-xyz' not found on PATH (got 'no-such-prog-xyz "
            "--x')",
        ),
        (
            '[[apps]]\nname = "a"\ncommand = ["./nope"]',
            "apps[0].command: program './nope' not found in {home} (got ['./nope'])",
        ),
        (
            '[[apps]]\nname = "a"\ncommand = ["./data.txt"]',
            "apps[0].command: program './data.txt' is not executable (got ['./data.txt'])",
        ),
        (
            '[[apps]]\nname = "a"\ncommand = "sh"\nargs = ["-c"]',
            "apps[0].args: cannot be combined with command; write the whole line in command (got "
            "['-c'])",
        ),
        (
            '[[apps]]\nname = "a"\ncommand = "sh"\ninterpreter = "bash"',
            "apps[0].interpreter: cannot be combined with command; write the whole line in command "
            "(got 'bash')",
        ),
        # [defaults]: errors name where the value was written.
        (
            '[defaults]\nkil_timeout = 5\n[[apps]]\nname = "a"\nscript = "app.py"',
            "defaults.kil_timeout: unknown key; did you mean kill_timeout?",
        ),
        (
            '[defaults]\nname = "x"\n[[apps]]\nname = "a"\nscript = "app.py"',
            "defaults.name: not allowed in [defaults]; set it in each [[apps]] entry",
        ),
        (
            '[defaults]\nscript = "app.py"\n[[apps]]\nname = "a"',
            "defaults.script: not allowed in [defaults]; set it in each [[apps]] entry",
        ),
        (
            '[defaults]\nkill_timeout = -1\n[[apps]]\nname = "a"\nscript = "app.py"',
            "defaults.kill_timeout: a duration cannot be negative (got -1)",
        ),
        (
            '[defaults]\nkill_timeout = -1\n[[apps]]\nname = "a"\nscript = "app.py"\nkill_timeout '
            "= -2",
            "apps[0].kill_timeout: a duration cannot be negative (got -2)",
        ),
        (
            '[defaults.env]\nX = {}\n[[apps]]\nname = "a"\nscript = "app.py"',
            "defaults.env.X: must be a string (numbers and booleans are converted) (got {})",
        ),
        (
            '[defaults.health_check]\nurl = "x"\n[[apps]]\nname = "a"\nscript = "app.py"',
            "defaults.health_check.url: must be an http:// or https:// URL (got 'x')",
        ),
        (
            'defaults = 1\n[[apps]]\nname = "a"\nscript = "app.py"',
            "defaults: must be a table (got 1)",
        ),
        # [[notify]].
        (BASE_APP + '[[notify]]\nwebhook = "http://127.0.0.1:9/"', "notify[0].events: required"),
        (
            BASE_APP + '[[notify]]\nevents = []\nwebhook = "http://127.0.0.1:9/"',
            "notify[0].events: must be a non-empty list of events (crash, errored, memory, health, "
            "restart) (got [])",
        ),
        (
            BASE_APP + '[[notify]]\nevents = ["crash", "boom"]\nwebhook = "http://127.0.0.1:9/"',
            "notify[0].events: unknown event 'boom'; events are crash, errored, memory, health, "
            "restart (got ['crash', 'boom'])",
        ),
        (
            BASE_APP
            + '[[notify]]\nevents = ["crash"]\napps = ["web", "ghost"]\nwebhook = "http://127.0.0.1:9/"',
            "notify[0].apps: no app named 'ghost' in this file (got 'ghost')",
        ),
        (
            BASE_APP
            + '[[notify]]\nevents = ["crash"]\nwebhook = "http://127.0.0.1:9/"\ncommand = "cat"',
            "notify[0].command: cannot be combined with webhook; use one of them (got 'cat')",
        ),
        (BASE_APP + '[[notify]]\nevents = ["crash"]', "notify[0].webhook: required (or command)"),
        (
            BASE_APP + '[[notify]]\nevents = ["crash"]\nwebhook = "ftp://x/"',
            "notify[0].webhook: must be an http:// or https:// URL (got 'ftp://x/')",
        ),
        (
            BASE_APP + '[[notify]]\nevents = ["crash"]\ncommand = []',
            "notify[0].command: must not be empty (got [])",
        ),
        (
            BASE_APP + '[[notify]]\nevent = ["crash"]',
            "notify[0].event: unknown key; did you mean events?",
        ),
        (
            BASE_APP
            + '[[notify]]\nevents = ["crash"]\ncommand = "cat"\n'
            + '[[notify]]\nevents = "crash"\ncommand = "cat"',
            "notify[1].events: must be a non-empty list of events (crash, errored, memory, health, "
            "restart) (got 'crash')",
        ),
        ("notify = 1\n" + BASE_APP, "notify: must be an array of tables ([[notify]]) (got 1)"),
        ("notify = [1]\n" + BASE_APP, "notify[0]: must be a table ([[notify]]) (got 1)"),
        # TOML syntax.
        ('[[apps]]\nname = "a"\nscript = \n', "invalid TOML at line 3, column 10: Invalid value"),
        (
            '[[apps]\nname = "a"',
            "invalid TOML at line 1, column 7: Expected ']]' at the end of an array declaration",
        ),
    ],
)
def test_file_mistakes(home: Path, text: str, message: str) -> None:
    (home / "data.txt").write_text("not a program\n")
    (home / "app.rb").write_text("puts 1\n")
    assert str(error(text + "\n")) == "ecosystem.toml: " + message.replace("{home}", str(home))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("staging", "ecosystem.toml: --env: no app defines env_staging (got 'staging')"),
        (
            "pro duction",
            "ecosystem.toml: --env: not a valid environment name (letters, digits, '_', '-') (got "
            "'pro duction')",
        ),
        (
            "",
            "ecosystem.toml: --env: not a valid environment name (letters, digits, '_', '-') (got "
            "'')",
        ),
    ],
)
def test_unknown_env_overlay(home: Path, env: str, message: str) -> None:
    text = BASE_APP + '[apps.env_production]\nX = "1"\n'
    assert str(error(text, env=env)) == message


def test_missing_file(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_ecosystem("nope.toml")
    assert str(info.value) == "nope.toml: no such file"


def test_directory_instead_of_file(home: Path) -> None:
    (home / "eco.toml").mkdir()
    with pytest.raises(ConfigError) as info:
        load_ecosystem(home / "eco.toml")
    assert str(info.value) == f"{home / 'eco.toml'}: is a directory, not an ecosystem file"


def test_not_utf8(home: Path) -> None:
    Path("ecosystem.toml").write_bytes(b'[[apps]]\nname = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_ecosystem("ecosystem.toml")
    assert str(info.value) == "ecosystem.toml: not UTF-8 text (line 2)"


def test_error_carries_its_parts(home: Path) -> None:
    err = error(BASE_APP + "max_restarts = -3\n")
    assert (err.file, err.key, err.value, err.reason) == (
        "ecosystem.toml",
        "apps[0].max_restarts",
        -3,
        "must be at least 0",
    )


def test_duplicate_name_is_reported_before_the_duplicates_other_keys(home: Path) -> None:
    text = BASE_APP + BASE_APP + "kill_timeout = -1\n"
    message = "ecosystem.toml: apps[1].name: duplicate name, also used by apps[0] (got 'web')"
    assert str(error(text)) == message


def test_first_mistake_in_file_order_wins(home: Path) -> None:
    text = (
        '[[apps]]\nname = "a"\nscript = "app.py"\nkill_timeout = -1\n'
        '[[apps]]\nname = "b"\nscript = "app.py"\nbogus = 1\n'
    )
    assert (
        str(error(text))
        == "ecosystem.toml: apps[0].kill_timeout: a duration cannot be negative (got -1)"
    )


# ---------------------------------------------------------------------------------------------
# [[notify]], in-memory data, and the example file


def test_notify(home: Path) -> None:
    ecosystem = load(
        BASE_APP
        + '[[apps]]\nname = "worker"\nscript = "app.py"\n'
        + '[[notify]]\nevents = ["crash", "errored", "memory", "health"]\napps = ["web"]\n'
        + 'webhook = "http://127.0.0.1:9000/alerts"\n'
        + '[[notify]]\nevents = ["restart"]\ncommand = "mail -s \'ptm alert\' admin@example.com"\n'
    )
    first, second = ecosystem.notify
    assert first.events == frozenset({"crash", "errored", "memory", "health"})
    assert first.apps == frozenset({"web"})
    assert first.webhook == "http://127.0.0.1:9000/alerts"
    assert first.command is None
    assert second.events == frozenset({"restart"})
    assert second.apps is None
    assert second.webhook is None
    assert second.command == ("mail", "-s", "ptm alert", "admin@example.com")
    assert ecosystem.app("worker").name == "worker"


def test_parse_ecosystem_from_a_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "w.py").write_text("")
    data = {"apps": [{"name": "w", "script": "w.py", "cwd": "svc", "kill_timeout": "2s"}]}
    ecosystem = parse_ecosystem(data, path=None, base_dir=tmp_path)
    assert ecosystem.path is None
    assert ecosystem.apps[0].cwd == tmp_path / "svc"
    assert ecosystem.apps[0].stop.kill_timeout == 2.0
    with pytest.raises(ConfigError) as info:
        parse_ecosystem(
            {"apps": [{"name": "w", "script": "w.py", "cwd": "svc", "x": 1}]},
            path=None,
            base_dir=tmp_path,
        )
    assert str(info.value) == "apps[0].x: unknown key"


def test_parse_ecosystem_needs_only_the_dict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/embedding.md: ``parse_ecosystem(dict, path=None)``; without a path, relative
    paths are taken from the current directory."""
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.py").write_text("")
    ecosystem = parse_ecosystem({"apps": [{"name": "w", "script": "w.py"}]})
    assert ecosystem.path is None
    assert ecosystem.apps[0].cwd == tmp_path
    assert ecosystem.apps[0].argv == (sys.executable, str(tmp_path / "w.py"))


def test_parse_ecosystem_with_a_path_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    (tmp_path / "w.py").write_text("")
    ecosystem = parse_ecosystem(
        {"apps": [{"name": "w", "script": "w.py"}]}, path=tmp_path / "e.toml"
    )
    assert ecosystem.path == tmp_path / "e.toml"
    assert ecosystem.apps[0].cwd == tmp_path
    with pytest.raises(ConfigError) as info:
        parse_ecosystem({"apps": [{"name": "w"}]}, path=tmp_path / "e.toml")
    assert str(info.value) == f"{tmp_path / 'e.toml'}: apps[0].script: required (or command)"


def test_build_app_for_a_script_without_a_file(home: Path) -> None:
    app = build_app({"name": "app", "script": "app.py", "args": ["--x"], "instances": 2})
    assert app.argv == (sys.executable, str(home / "app.py"), "--x")
    assert app.instances == 2
    assert app.cwd == home
    with pytest.raises(ConfigError) as info:
        build_app({"name": "app", "script": "app.py", "instances": 0})
    assert str(info.value).startswith("apps[0].instances: must be an integer of at least 1")


def test_example_ecosystem_file_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    example = REPO / "examples" / "ecosystem.toml"
    if not example.exists():
        pytest.skip("examples/ecosystem.toml is not there yet")
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    # Its programs are console scripts installed beside this Python.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    ecosystem = load_ecosystem(example)
    assert ecosystem.apps
    assert len({app.name for app in ecosystem.apps}) == len(ecosystem.apps)


def _doc_blocks() -> list[str]:
    text = (REPO / "docs" / "ecosystem.md").read_text()
    return [block.split("```", 1)[0] for block in text.split("```toml\n")[1:]]


def test_every_toml_block_of_the_guide_is_valid_toml() -> None:
    import tomllib

    blocks = _doc_blocks()
    assert len(blocks) >= 4
    for block in blocks:
        tomllib.loads(block)


def test_the_guides_examples_load(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "server.py").write_text("")
    (home / "worker.py").write_text("")
    python3 = make_executable(home / "tools" / "python3")
    monkeypatch.setenv("PATH", f"{python3.parent}{os.pathsep}{os.environ['PATH']}")
    first, complete, env_example, seed = _doc_blocks()[:4]
    assert load_app(first).argv == (sys.executable, str(home / "server.py"), "--port", "8000")
    ecosystem = load(complete, env="production")
    api, worker = ecosystem.apps
    assert api.env == {"TZ": "UTC", "LOG_LEVEL": "warning", "PORT": "8000"}
    assert api.stop.kill_timeout == 8.0
    assert api.listen is not None and api.listen.port == 8000
    assert worker.argv == (str(python3), "-u", "worker.py", "--queue", "default")
    assert worker.env_name is None
    assert ecosystem.notify[0].apps == frozenset({"api"})
    app = load_app(env_example, env="production")
    assert dict(app.env) == {"DB_PATH": "/var/lib/api/api.db", "PORT": "3000"}
    assert "name = 'point-tron'" in seed


def test_the_guides_seed_translation_loads(seed_project: Path) -> None:
    seed = _doc_blocks()[3].replace("cwd = '/opt/point-tron'", "cwd = 'opt/point-tron'")
    assert load_app(seed, env="production") == load_app(SEED_TOML, env="production")


def test_increment_var_gives_each_instance_its_own_value(home: Path) -> None:
    from supervisor_core.process import launch_plan

    (home / "web.py").write_text("")
    app = load_app(
        '[[apps]]\nname = "web"\nscript = "web.py"\ninstances = 3\nincrement_var = "PORT"\n'
        '[apps.env]\nPORT = "8000"\n[apps.env_staging]\nPORT = "9000"\n',
        env="staging",
    )
    assert app.increment_var == "PORT"
    plans = [launch_plan(app, index, run_id="r", base_env={}) for index in range(3)]
    assert [plan.env["PORT"] for plan in plans] == ["9000", "9001", "9002"]


@pytest.mark.parametrize("env", ['[apps.env]\nPORT = "http"\n', ""])
def test_increment_var_needs_an_integer_in_env(home: Path, env: str) -> None:
    (home / "web.py").write_text("")
    message = str(
        error(f'[[apps]]\nname = "web"\nscript = "web.py"\nincrement_var = "PORT"\n{env}')
    )
    assert message == (
        "ecosystem.toml: apps[0].increment_var: PORT must be set to an integer in env"
        " (instance N gets it plus N) (got 'PORT')"
    )


def test_a_command_line_string_too_long_to_split_is_refused_at_once(home: Path) -> None:
    """``shlex.split`` of one 1 MB word took 17 s, under the daemon's lock; and the error of
    a huge value quotes its start and its length, not megabytes."""
    word = "x" * 1_000_000
    path = home / "ecosystem.toml"
    path.write_text(f'[[apps]]\nname = "a"\nscript = "app.py"\nargs = "{word}"\n')
    with pytest.raises(ConfigError) as caught:
        load_ecosystem(path)
    text = str(caught.value)
    assert (
        "apps[0].args: a string of 1,000,000 characters; one string holds at most 131,072" in text
    )
    assert text.endswith("... (1,000,002 characters))") and len(text) < 600
    path.write_text(f'[[apps]]\nname = "a"\nscript = "app.py"\nargs = ["{word}"]\n')
    assert load_ecosystem(path).apps[0].argv[-1] == word  # a list is not split
