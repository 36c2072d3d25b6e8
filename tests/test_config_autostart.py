"""The ``autostart`` key: default, [defaults], per-app override, errors, and the guide."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_core.config import AppSpec, Ecosystem, build_app, load_ecosystem
from supervisor_core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "app.py").write_text("print('hi')\n")
    return folder


def load(project: Path, text: str) -> Ecosystem:
    path = project / "ecosystem.toml"
    path.write_text(text)
    return load_ecosystem(path)


def app_named(ecosystem: Ecosystem, name: str) -> AppSpec:
    return ecosystem.app(name)


def test_autostart_defaults_to_true(project: Path) -> None:
    eco = load(project, '[[apps]]\nname = "web"\nscript = "app.py"\n')
    assert eco.apps[0].autostart is True
    assert AppSpec(name="x", argv=("x",), cwd=project).autostart is True


def test_autostart_false_per_app(project: Path) -> None:
    eco = load(
        project,
        '[[apps]]\nname = "web"\nscript = "app.py"\n'
        '[[apps]]\nname = "migrate"\nscript = "app.py"\nautostart = false\n',
    )
    assert app_named(eco, "web").autostart is True
    assert app_named(eco, "migrate").autostart is False


def test_autostart_in_defaults_and_an_app_opting_in(project: Path) -> None:
    eco = load(
        project,
        "[defaults]\nautostart = false\n"
        '[[apps]]\nname = "idle"\nscript = "app.py"\n'
        '[[apps]]\nname = "web"\nscript = "app.py"\nautostart = true\n',
    )
    assert app_named(eco, "idle").autostart is False
    assert app_named(eco, "web").autostart is True


def test_build_app_reads_autostart(project: Path) -> None:
    app = build_app({"name": "w", "script": "app.py", "autostart": False}, base_dir=project)
    assert app.autostart is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[apps]]\nname = "web"\nscript = "app.py"\nautostart = "false"\n',
            "apps[0].autostart: must be true or false (got 'false')",
        ),
        (
            '[defaults]\nautostart = 0\n[[apps]]\nname = "web"\nscript = "app.py"\n',
            "defaults.autostart: must be true or false (got 0)",
        ),
        (
            '[[apps]]\nname = "web"\nscript = "app.py"\nautoStart = false\n',
            "apps[0].autoStart: unknown key; did you mean autostart?",
        ),
        (
            '[[apps]]\nname = "web"\nscript = "app.py"\nautostrat = false\n',
            "apps[0].autostrat: unknown key; did you mean autostart?",
        ),
    ],
)
def test_bad_autostart_is_one_clear_line(project: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(project, text)
    assert str(info.value) == f"{project / 'ecosystem.toml'}: {message}"


def test_the_guide_documents_autostart_and_no_longer_calls_it_unsupported() -> None:
    guide = (REPO / "docs" / "ecosystem.md").read_text()
    assert "| `autostart` | bool | `true` |" in guide
    pm2 = (REPO / "docs" / "coming-from-pm2.md").read_text()  # PM2's keys, each with ptm's
    assert "| `autostart` | `autostart` | mapped |" in pm2
