"""``ptm startup``: the systemd unit's text and its installation (with a fake systemctl)."""

from __future__ import annotations

import getpass
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.cli._startup import install_unit, remove_unit, systemd_unit, unit_path
from supervisor_core.errors import ConfigError, PtmError

ARGS: dict[str, Any] = {
    "ptm_executable": "/home/u/.venvs/ptm/bin/ptm",
    "python": "/home/u/.venvs/ptm/bin/python",
    "user": "u",
    "home": "/home/u",
    "ptm_home": "/home/u/.ptm",
    "path_env": "/home/u/.venvs/ptm/bin:/usr/local/bin:/usr/bin:/bin",
    "stop_timeout_s": 40,
}


def settings(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit by key (in order), ignoring comments and sections."""
    result: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            result.setdefault(key, []).append(value)
    return result


def sections(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[")]


def test_unit_fields() -> None:
    text = systemd_unit(**ARGS)
    assert sections(text) == ["[Unit]", "[Service]", "[Install]"]
    unit = settings(text)
    assert unit["Type"] == ["simple"]
    assert unit["User"] == ["u"]
    assert unit["WorkingDirectory"] == ["/home/u"]
    assert unit["ExecStart"] == ["/home/u/.venvs/ptm/bin/ptm daemon --foreground"]
    assert unit["ExecStop"] == ["/home/u/.venvs/ptm/bin/ptm kill"]
    assert unit["Restart"] == ["always"]
    assert unit["KillMode"] == ["mixed"]
    assert unit["TimeoutStopSec"] == ["40"]
    assert unit["LimitNOFILE"] == ["65536"]  # the apps' pipes and logs are the daemon's files
    assert unit["Environment"] == [
        "PTM_HOME=/home/u/.ptm",
        "PATH=/home/u/.venvs/ptm/bin:/usr/local/bin:/usr/bin:/bin",
    ]
    assert unit["WantedBy"] == ["multi-user.target"]
    assert "/home/u/.venvs/ptm/bin/python" in text  # recorded for the next `ptm startup`
    assert text.endswith("\n")


def test_unit_service_keys_are_in_their_sections() -> None:
    text = systemd_unit(**ARGS)
    service = text.split("[Service]")[1].split("[Install]")[0]
    for key in ("ExecStart=", "ExecStop=", "KillMode=", "TimeoutStopSec=", "User="):
        assert key in service
    assert "WantedBy=" in text.split("[Install]")[1]


def test_unit_quotes_spaces_and_escapes_specifiers() -> None:
    text = systemd_unit(
        **{
            **ARGS,
            "ptm_executable": "/opt/my apps/bin/ptm",
            "ptm_home": "/home/u/100%/.ptm",
            "path_env": "/opt/my apps/bin:/usr/bin",
            "service_name": "ptm-u",
        }
    )
    unit = settings(text)
    assert unit["ExecStart"] == ['"/opt/my apps/bin/ptm" daemon --foreground']
    assert unit["ExecStop"] == ['"/opt/my apps/bin/ptm" kill']
    assert unit["Environment"] == [
        "PTM_HOME=/home/u/100%%/.ptm",
        '"PATH=/opt/my apps/bin:/usr/bin"',
    ]


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("ptm_executable", "ptm", "absolute path"),
        ("ptm_executable", "/opt/it's/ptm", "quote or a backslash"),
        ("python", "python3", "absolute path"),
        ("home", "~", "absolute path"),
        ("ptm_home", ".ptm", "absolute path"),
        ("ptm_home", "/home/u/.ptm\nExecStartPre=/bin/rm", "one non-empty line"),
        ("path_env", "", "one non-empty line"),
        ("user", "bad user", "not a valid user name"),
        ("stop_timeout_s", 0, "at least 1 second"),
        ("stop_timeout_s", 2.5, "whole number"),
        ("service_name", "ptm/x", "letters, digits"),
    ],
)
def test_unit_refuses_bad_values(key: str, value: object, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        systemd_unit(**{**ARGS, key: value})
    assert caught.value.key == key
    assert "\n" not in str(caught.value)  # one line, even for a value with a newline


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """systemd itself parses the unit (odd paths included) without a complaint."""
    bin_dir = tmp_path / "my venv 100%" / "bin"
    bin_dir.mkdir(parents=True)
    ptm = bin_dir / "ptm$1"
    ptm.symlink_to(sys.executable)
    home = tmp_path / "home dir"
    home.mkdir()
    text = systemd_unit(
        **{
            **ARGS,
            "ptm_executable": str(ptm),
            "python": sys.executable,
            "user": getpass.getuser(),
            "home": str(home),
            "ptm_home": str(home / ".ptm"),
            "path_env": f"{bin_dir}:/usr/bin:/bin",
            "service_name": "ptm-test",
        }
    )
    unit = tmp_path / "ptm-test.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(unit) not in result.stderr  # no warning about a line of the unit


def test_unit_path() -> None:
    assert unit_path() == Path("/etc/systemd/system/ptm.service")
    assert unit_path("ptm-alice", folder=Path("/x")) == Path("/x/ptm-alice.service")
    with pytest.raises(ConfigError, match="service_name"):
        unit_path("../evil")


class FakeRunner:
    def __init__(self, failing: str | None = None, missing: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.failing = failing
        self.missing = missing

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        assert kwargs.get("check") is False
        if self.missing:
            raise FileNotFoundError(command[0])
        if self.failing is not None and self.failing in command:
            return subprocess.CompletedProcess(
                command, 1, "", "Failed to enable unit: Access denied\n"
            )
        return subprocess.CompletedProcess(command, 0, "", "")


def test_install_writes_the_unit_and_enables_it(tmp_path: Path) -> None:
    text = systemd_unit(**ARGS)
    path = tmp_path / "ptm.service"
    runner = FakeRunner()
    commands = install_unit(text, path=path, run=runner)
    assert path.read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert runner.calls == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "ptm.service"],
    ]
    assert [list(c) for c in commands] == runner.calls
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ptm.service"]  # no temporary left


def test_install_replaces_an_old_unit(tmp_path: Path) -> None:
    path = tmp_path / "ptm.service"
    path.write_text("old")
    install_unit("new\n", path=path, run=FakeRunner())
    assert path.read_text() == "new\n"


def test_install_reports_a_failing_systemctl(tmp_path: Path) -> None:
    runner = FakeRunner(failing="enable")
    with pytest.raises(PtmError, match=r"`systemctl enable ptm.service` failed \(exit 1\)") as e:
        install_unit("x\n", path=tmp_path / "ptm.service", run=runner)
    assert "Access denied" in str(e.value)
    assert len(runner.calls) == 2


def test_install_without_systemctl(tmp_path: Path) -> None:
    with pytest.raises(PtmError, match="systemctl was not found"):
        install_unit("x\n", path=tmp_path / "ptm.service", run=FakeRunner(missing=True))


def test_install_cannot_write(tmp_path: Path) -> None:
    runner = FakeRunner()
    with pytest.raises(PtmError, match=r"cannot write .*no-such-folder/ptm\.service"):
        install_unit("x\n", path=tmp_path / "no-such-folder" / "ptm.service", run=runner)
    assert runner.calls == []  # nothing enabled when the file is not there


def test_remove_undoes_install(tmp_path: Path) -> None:
    path = tmp_path / "ptm-alice.service"
    install_unit(systemd_unit(**ARGS, service_name="ptm-alice"), path=path, run=FakeRunner())
    (tmp_path / "other.service").write_text("[Unit]\n")
    runner = FakeRunner()
    commands = remove_unit(path=path, run=runner)
    assert runner.calls == [
        ["systemctl", "disable", "ptm-alice.service"],  # while the file is there to read
        ["systemctl", "daemon-reload"],
    ]
    assert [list(c) for c in commands] == runner.calls
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.service"]


def test_remove_refuses_a_unit_ptm_did_not_write(tmp_path: Path) -> None:
    path = tmp_path / "ptm.service"
    path.write_text("[Unit]\nDescription=someone else's ptm\n")
    runner = FakeRunner()
    with pytest.raises(PtmError, match=r"ptm\.service was not written by `ptm startup`"):
        remove_unit(path=path, run=runner)
    assert path.read_text() == "[Unit]\nDescription=someone else's ptm\n"
    assert runner.calls == []


def test_remove_without_a_unit(tmp_path: Path) -> None:
    runner = FakeRunner()
    with pytest.raises(PtmError, match=r"no unit at .*ptm\.service: nothing to remove"):
        remove_unit(path=tmp_path / "ptm.service", run=runner)
    assert runner.calls == []


def test_remove_keeps_the_file_when_disable_fails(tmp_path: Path) -> None:
    path = tmp_path / "ptm.service"
    path.write_text(systemd_unit(**ARGS))
    runner = FakeRunner(failing="disable")
    with pytest.raises(PtmError, match=r"`systemctl disable ptm.service` failed \(exit 1\)"):
        remove_unit(path=path, run=runner)
    assert path.exists()
    assert runner.calls == [["systemctl", "disable", "ptm.service"]]


def test_remove_without_systemctl(tmp_path: Path) -> None:
    path = tmp_path / "ptm.service"
    path.write_text(systemd_unit(**ARGS))
    with pytest.raises(PtmError, match="systemctl was not found"):
        remove_unit(path=path, run=FakeRunner(missing=True))
    assert path.exists()


def test_docs_show_the_real_unit() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    unit = systemd_unit(
        ptm_executable="/home/alice/.venvs/ptm/bin/ptm",
        python="/home/alice/.venvs/ptm/bin/python",
        user="alice",
        home="/home/alice",
        ptm_home="/home/alice/.ptm",
        path_env="/home/alice/.venvs/ptm/bin:/usr/local/bin:/usr/bin:/bin",
        stop_timeout_s=18,
    )
    assert unit in doc


def test_ptm_unstartup_removes_the_installed_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supervisor_core.cli._main import build_parser
    from supervisor_core.cli._pm2 import unstartup

    path = unit_path("ptm-bob", folder=tmp_path)
    install_unit(systemd_unit(**ARGS, service_name="ptm-bob"), path=path, run=FakeRunner())
    args = build_parser().parse_args(["unstartup", "--service-name", "ptm-bob"])
    runner = FakeRunner()
    assert unstartup(args, run=runner, folder=tmp_path) == 0
    assert not path.exists()
    assert runner.calls == [
        ["systemctl", "disable", "ptm-bob.service"],
        ["systemctl", "daemon-reload"],
    ]
    out = capsys.readouterr().out
    assert f"[ptm] disabled ptm-bob.service and removed {path};" in out
    assert "systemctl stop ptm-bob.service" in out
    with pytest.raises(PtmError, match="nothing to remove"):
        unstartup(args, run=runner, folder=tmp_path)
