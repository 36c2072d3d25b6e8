"""``ptm start SCRIPT``'s flags: each one reaches the spec through the file key it stands
for, and a wrong value is refused with the file key's own reason, the flag named."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.cli._main import _split_script_args, build_parser
from supervisor_core.cli._start import checked_entry
from supervisor_core.cli._startargs import SCRIPT_FLAGS, given_script_flags, script_entry
from supervisor_core.config import AppSpec, build_app, parse_ecosystem
from supervisor_core.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    words, script_args = _split_script_args(["start", *argv])
    args = build_parser().parse_args(words)
    args.script_args = script_args
    return args


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "sub" / "src").mkdir()
    return tmp_path


def spec_of(args: argparse.Namespace) -> AppSpec:
    return build_app(checked_entry(args, os.environ), base_dir=Path.cwd())


def test_every_flag_reaches_the_spec(here: Path) -> None:
    args = parse(
        "app.py",
        "--name", "web",
        "-i", "2",
        "--max-memory-restart", "200M",
        "--watch", "src",
        "--ignore-watch", "*.pyc",
        "--interpreter", "python3",
        "--interpreter-args", "-X dev",
        "--cron-restart", "0 3 * * *",
        "--no-autorestart",
        "--restart-delay", "3000",
        "--max-restarts", "5",
        "--kill-timeout", "8s",
        "--cwd", "sub",
        "--output", "o.log",
        "--error", "e.log",
        "--log-date-format", "HH:mm",
        "--no-merge-logs",
        "--", "--port", "1",
    )  # fmt: skip
    spec = spec_of(args)
    assert spec.name == "web" and spec.instances == 2
    assert spec.memory.max_memory_restart == 200 * 1024 * 1024
    # Watched paths are relative to the app's cwd, as in the file.
    assert spec.watch.paths == (here / "sub" / "src",) and spec.watch.ignore == ("*.pyc",)
    assert spec.interpreter is not None and os.path.basename(spec.interpreter) == "python3"
    assert spec.interpreter_args == ("-X", "dev")
    assert spec.cron_restart == "0 3 * * *"
    assert spec.restart.autorestart is False
    assert spec.restart.restart_delay == 3.0  # a number is milliseconds, as in the file
    assert spec.restart.max_restarts == 5
    assert spec.stop.kill_timeout == 8.0
    assert spec.cwd == here / "sub"
    assert spec.argv[-3:] == (str(here / "app.py"), "--port", "1")  # from here, not from sub
    assert spec.logs is not None
    assert spec.logs.out_file == here / "o.log" and spec.logs.error_file == here / "e.log"
    assert spec.logs.date_format is not None and spec.logs.date_format.source == "HH:mm"
    assert spec.logs.merge_logs is False


def test_the_pm2_spellings_and_the_defaults(here: Path) -> None:
    spec = spec_of(parse("app.py", "--node-args=-O", "--cron", "*/5 * * * *", "--watch"))
    assert spec.interpreter_args == ("-O",) and spec.cron_restart == "*/5 * * * *"
    assert spec.watch.paths == (here,)  # --watch alone: the app's folder
    assert spec_of(parse("app.py", "--merge-logs")).logs.merge_logs is True  # type: ignore[union-attr]
    timed = spec_of(parse("app.py", "--time")).logs
    assert timed is not None and timed.date_format is not None
    assert timed.date_format.source == "YYYY-MM-DDTHH:mm:ss.SSSZ"
    plain = spec_of(parse("app.py"))
    assert plain.name == "app" and plain.restart.autorestart is True and not plain.watch.paths
    assert script_entry(parse("app.py")) == {"name": "app", "script": "app.py"}


def test_every_script_flag_stands_for_a_file_key() -> None:
    from supervisor_core.config._app import APP_KEYS

    assert set(SCRIPT_FLAGS) <= APP_KEYS
    assert given_script_flags(parse("app.py")) == []
    assert given_script_flags(parse("app.py", "--time", "--watch", "-i", "2")) == [
        "-i/--instances",
        "--watch",
        "--time",
    ]


# (flags, the key, its value as the file would hold it)
BAD: list[tuple[list[str], str, Any]] = [
    (["--max-memory-restart", "lots"], "max_memory_restart", "lots"),
    (["-i", "zero"], "instances", "zero"),
    (["-i", "0"], "instances", 0),
    (["--restart-delay", "1x"], "restart_delay", "1x"),
    (["--restart-delay", "-5"], "restart_delay", -5),
    (["--max-restarts", "-1"], "max_restarts", -1),
    (["--max-restarts", "2.5"], "max_restarts", 2.5),
    (["--kill-timeout", "soon"], "kill_timeout", "soon"),
    (["--cron-restart", "every day"], "cron_restart", "every day"),
    (["--interpreter", "no-such-interpreter-here"], "interpreter", "no-such-interpreter-here"),
    (["--cwd", "nowhere"], "cwd", "nowhere"),
    (["--log-date-format", "HH:mm:ss.SSSSSSS Q"], "log_date_format", "HH:mm:ss.SSSSSSS Q"),
    (["--watch", "missing"], "watch", ["missing"]),
    (["--name", "bad name!"], "name", "bad name!"),
    (["--output", "sub"], "out_file", "sub"),
]


@pytest.mark.parametrize(("flags", "key", "value"), BAD, ids=[b[1] + str(b[2]) for b in BAD])
def test_a_bad_flag_value_reads_like_the_file_key(
    here: Path, flags: list[str], key: str, value: Any
) -> None:
    with pytest.raises(ConfigError) as in_file:
        entry = {"name": "app", "script": "app.py", key: value}
        parse_ecosystem({"apps": [entry]}, path=here / "eco.toml")
    with pytest.raises(ConfigError) as on_line:
        checked_entry(parse("app.py", *flags), os.environ)
    file_text = str(in_file.value)
    assert file_text.startswith(f"{here / 'eco.toml'}: apps[0].{key}")
    line = str(on_line.value)
    flag = SCRIPT_FLAGS[key]
    assert line.startswith(f"{flag}: ")
    assert "\n" not in line
    # The same reason (and value), after the flag instead of FILE: apps[0].KEY
    assert line.removeprefix(f"{flag}: ") == file_text.split(": ", 2)[2]


def test_a_missing_script_and_file_only_flags(here: Path) -> None:
    from supervisor_core.cli._start import start

    with pytest.raises(ConfigError, match=r"no\.py: no such script"):
        start(parse("no.py", "--watch"))
    with pytest.raises(ConfigError, match=r"--watch: only for a script, not a file"):
        (here / "eco.toml").write_text("")
        start(parse("eco.toml", "--watch"))
    with pytest.raises(ConfigError, match=r"--only: only for an ecosystem file"):
        start(parse("app.py", "--only", "a"))
