"""``ptm init``: the commented ecosystem template, and writing it without clobbering a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from supervisor_core.cli._init import ECOSYSTEM_TEMPLATE, write_template
from supervisor_core.config import load_ecosystem
from supervisor_core.config._app import APP_KEYS
from supervisor_core.errors import ConfigError, PtmError

KEY_LINE = re.compile(r"^# ([A-Za-z_]+ = .*?)(\s+#.*)?$")
TABLE_LINE = re.compile(r"^# (\[{1,2}[a-z_.]+\]{1,2})(\s+#.*)?$")


@pytest.fixture(autouse=True)
def ptm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))


def written(folder: Path, text: str, name: str = "ecosystem.toml") -> Path:
    (folder / "app.py").write_text("print('hello')\n")
    path = folder / name
    path.write_text(text)
    return path


def app_section(text: str) -> tuple[str, str, str]:
    """The template cut around its ``[[apps]]`` keys: before, the keys, from ``[apps.env]``."""
    start = text.index("[[apps]]\n")
    end = text.index("[apps.env]")
    return text[:start], text[start:end], text[end:]


def test_write_template_and_load_it(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print('hello')\n")
    path = write_template(tmp_path, force=False)
    assert path == tmp_path / "ecosystem.toml"
    assert path.read_text() == ECOSYSTEM_TEMPLATE
    eco = load_ecosystem(path)
    assert [app.name for app in eco.apps] == ["app"]
    app = eco.apps[0]
    assert app.script == "app.py"
    assert app.cwd == tmp_path
    assert dict(app.env) == {"LOG_LEVEL": "info"}
    assert app.instances == 1 and app.exec_mode == "fork"
    assert eco.notify == ()


def test_commented_defaults_are_the_real_defaults(tmp_path: Path) -> None:
    """Uncommenting every key shown with its default changes nothing."""
    before, keys, after = app_section(ECOSYSTEM_TEMPLATE)
    uncommented = []
    changed = 0
    for line in keys.splitlines():
        match = KEY_LINE.match(line)
        if match and "default:" not in (match[2] or ""):
            uncommented.append(match[1])
            changed += 1
        else:
            uncommented.append(line)
    assert changed >= 20
    base = load_ecosystem(written(tmp_path, ECOSYSTEM_TEMPLATE)).apps[0]
    text = before + "\n".join(uncommented) + "\n" + after
    explicit = load_ecosystem(written(tmp_path, text, "explicit.toml")).apps[0]
    assert explicit == base


def test_every_commented_key_is_valid(tmp_path: Path) -> None:
    """Uncommenting everything (cluster mode, for [apps.listen]) gives a valid file."""
    lines = []
    for line in ECOSYSTEM_TEMPLATE.splitlines():
        match = KEY_LINE.match(line) or TABLE_LINE.match(line)
        lines.append(match[1] if match else line)
    text = "\n".join(lines).replace('exec_mode = "fork"', 'exec_mode = "cluster"')
    assert "# [" not in text  # every table was uncommented
    eco = load_ecosystem(written(tmp_path, text), env="production")
    app = eco.apps[0]
    assert app.exec_mode == "cluster" and app.listen is not None and app.listen.port == 8000
    assert app.health_check is not None
    assert app.env["LOG_LEVEL"] == "warning"  # env_production on top of env
    assert app.stop.kill_timeout == 5.0  # the app's own key wins over [defaults]
    assert app.memory.max_memory_restart == 512 * 1024 * 1024
    assert app.cron_restart == "0 3 * * *"
    assert len(eco.notify) == 1


def test_template_mentions_every_app_key() -> None:
    for key in APP_KEYS:
        if key == "env":
            assert "[apps.env]" in ECOSYSTEM_TEMPLATE
        elif key in ("health_check", "listen"):
            assert f"[apps.{key}]" in ECOSYSTEM_TEMPLATE
        else:
            assert re.search(rf"\b{key} = ", ECOSYSTEM_TEMPLATE), key


def test_template_lines_fit_a_terminal() -> None:
    assert max(len(line) for line in ECOSYSTEM_TEMPLATE.splitlines()) <= 100


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "ecosystem.toml"
    path.write_text("# mine\n")
    with pytest.raises(ConfigError, match="already exists") as caught:
        write_template(tmp_path, force=False)
    assert caught.value.file == str(path)
    assert str(path) in str(caught.value)
    assert "--force" in str(caught.value)
    assert path.read_text() == "# mine\n"


def test_force_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "ecosystem.toml"
    path.write_text("# mine\n")
    assert write_template(tmp_path, force=True) == path
    assert path.read_text() == ECOSYSTEM_TEMPLATE


def test_a_directory_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "ecosystem.toml").mkdir()
    with pytest.raises(ConfigError, match=r"ecosystem\.toml: already exists"):
        write_template(tmp_path, force=False)
    with pytest.raises(ConfigError, match="is a directory"):
        write_template(tmp_path, force=True)


def test_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PtmError, match=r"nowhere/ecosystem\.toml: cannot write"):
        write_template(tmp_path / "nowhere", force=False)
