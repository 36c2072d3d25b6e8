"""``target_of``: how a command's NAME|ID|all|FILE argument is sent to the daemon."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor_core.cli._commands import target_of


def test_an_existing_ecosystem_file_is_sent_as_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "eco.toml").write_text("")
    (tmp_path / "ecosystem.config.js").write_text("")
    (tmp_path / "web").write_text("")  # a file named like an app, not an ecosystem file
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "apps").write_text("")
    assert target_of("eco.toml") == str(tmp_path / "eco.toml")
    assert target_of("ecosystem.config.js") == str(tmp_path / "ecosystem.config.js")
    assert target_of("sub/apps") == str(tmp_path / "sub" / "apps")
    assert target_of("web") == "web"
    assert target_of("missing.toml") == "missing.toml"
    assert target_of("sub") == "sub"  # a folder is not a file
    assert target_of("3") == "3"
    assert target_of("all") == "all"


def test_a_name_that_is_no_file_does_not_load_the_config_package(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from supervisor_core.cli._commands import target_of\n"
        "assert target_of('web') == 'web'\n"
        "print('supervisor_core.config' in sys.modules)\n"
        "target_of('eco.toml')\n"
        "print('supervisor_core.config' in sys.modules)\n"
    )
    (tmp_path / "eco.toml").write_text("")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1])),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False\nTrue\n"
