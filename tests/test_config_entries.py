"""Ecosystem files into standalone entries (what the daemon stores), and stored entries back
into specs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.config import load_ecosystem, parse_ecosystem
from supervisor_core.daemon._restore import stored_spec as app_spec
from supervisor_core.errors import ConfigError
from supervisor_core.store import StoredApp
from tests.helpers import stored_apps_from_file


def merged_entry(defaults: dict[str, Any], own: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The standalone entry the compiler gives for ``own`` over ``defaults``."""
    ecosystem = parse_ecosystem({"defaults": defaults, "apps": [own]}, path=folder / "e.toml")
    return dict(ecosystem.entries[0])


ECOSYSTEM = """
[defaults]
kill_timeout = "8s"
max_restarts = 3

[defaults.env]
TZ = "UTC"
LEVEL = "info"

[defaults.env_production]
LEVEL = "warning"

[defaults.health_check]
url = "http://127.0.0.1:9000/health"

[[apps]]
name = "api"
script = "server.py"
cwd = "api"
max_restarts = 5
out_file = "logs/api-out.log"

[apps.env]
PORT = 8000

[apps.env_production]
PORT = 80

[apps.health_check]
url = "http://127.0.0.1:8000/health"
failures = 5

[[apps]]
name = "tool"
command = ["sleep", "1000"]
autostart = false

[apps.env_staging]
LEVEL = "debug"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "api").mkdir(parents=True)
    (folder / "api" / "server.py").write_text("print('api')\n")
    (folder / "ecosystem.toml").write_text(ECOSYSTEM)
    return folder


def test_merged_entry_lays_defaults_under_the_app(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("")
    defaults = {
        "kill_timeout": "8s",
        "max_restarts": 3,
        "env": {"TZ": "UTC", "LEVEL": "info"},
        "env_production": {"LEVEL": "warning"},
        "health_check": {"url": "http://a/"},
    }
    own = {
        "script": "s.py",
        "name": "api",
        "max_restarts": 5,
        "env": {"LEVEL": "debug"},
        "env_staging": {"X": "1"},
        "health_check": {"url": "http://b/", "failures": 2},
    }
    assert merged_entry(defaults, own, tmp_path) == {
        "name": "api",
        "kill_timeout": "8s",
        "script": "s.py",
        "max_restarts": 5,
        "health_check": {"url": "http://b/", "failures": 2},
        "env": {"TZ": "UTC", "LEVEL": "debug"},
        "env_production": {"LEVEL": "warning"},
        "env_staging": {"X": "1"},
    }
    assert next(iter(merged_entry(defaults, own, tmp_path))) == "name"
    # The inputs are not changed.
    assert own["env"] == {"LEVEL": "debug"}
    assert defaults["env"] == {"TZ": "UTC", "LEVEL": "info"}


def test_stored_apps_from_a_file(project: Path) -> None:
    api, tool = stored_apps_from_file(project / "ecosystem.toml", "production")
    assert api == StoredApp(
        name="api",
        entry={
            "name": "api",
            "kill_timeout": "8s",
            "script": "server.py",
            "cwd": "api",
            "max_restarts": 5,
            "out_file": "logs/api-out.log",
            "health_check": {"url": "http://127.0.0.1:8000/health", "failures": 5},
            "env": {"TZ": "UTC", "LEVEL": "info", "PORT": 8000},
            "env_production": {"LEVEL": "warning", "PORT": 80},
        },
        base_dir=str(project),
        env_name="production",
        source=str(project / "ecosystem.toml"),
        desired="running",
        position=0,
    )
    assert tool.desired == "stopped"  # autostart = false
    assert tool.env_name == "production"  # from [defaults.env_production]
    assert tool.entry["env_staging"] == {"LEVEL": "debug"}
    assert tool.position == 1


def test_env_name_is_none_for_an_app_without_the_overlay(project: Path) -> None:
    api, tool = stored_apps_from_file(project / "ecosystem.toml", "staging")
    assert api.env_name is None
    assert tool.env_name == "staging"
    api, tool = stored_apps_from_file(project / "ecosystem.toml")
    assert (api.env_name, tool.env_name) == (None, None)


@pytest.mark.parametrize("env", [None, "production", "staging"])
def test_each_entry_stands_alone(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    expected = load_ecosystem(project / "ecosystem.toml", env).apps
    monkeypatch.chdir(tmp_path)  # relative paths must not depend on where ptm runs
    stored = stored_apps_from_file(project / "ecosystem.toml", env)
    assert tuple(app_spec(app) for app in stored) == expected
    api = app_spec(stored[0])
    assert api.argv == (sys.executable, str(project / "api" / "server.py"))
    assert api.logs is not None and api.logs.out_file == project / "logs" / "api-out.log"


def test_a_relative_file_name_is_made_absolute(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    api, _ = stored_apps_from_file("ecosystem.toml")
    assert api.source == str(project / "ecosystem.toml")
    assert api.base_dir == str(project)


def test_a_bad_file_gives_the_loaders_error(project: Path) -> None:
    bad = project / "bad.toml"
    bad.write_text('[[apps]]\nname = "x"\nscript = "missing.py"\n')
    with pytest.raises(ConfigError) as info:
        stored_apps_from_file(bad)
    assert str(info.value) == f"{bad}: apps[0].script: no such file in {project} (got 'missing.py')"
    with pytest.raises(ConfigError, match="no such file"):
        stored_apps_from_file(project / "nope.toml")


def test_a_stored_app_that_no_longer_resolves_names_the_app(project: Path) -> None:
    api, _ = stored_apps_from_file(project / "ecosystem.toml")
    (project / "api" / "server.py").unlink()
    with pytest.raises(ConfigError) as info:
        app_spec(api)
    assert str(info.value) == (
        f"{project / 'ecosystem.toml'}: stored app 'api': script: no such file in"
        f" {project / 'api'} (got 'server.py')"
    )


def test_a_stored_app_without_a_file(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("")
    app = StoredApp(
        name="job",
        entry={"name": "job", "script": "job.py", "instances": 2},
        base_dir=str(tmp_path),
        env_name=None,
        source=None,
        desired="running",
        position=0,
    )
    spec = app_spec(app)
    assert spec.argv == (sys.executable, str(tmp_path / "job.py"))
    assert spec.instances == 2
    with pytest.raises(ConfigError) as info:
        app_spec(StoredApp(**{**app.__dict__, "entry": {"name": "job", "script": "gone.py"}}))
    assert str(info.value) == (
        f"stored app 'job': script: no such file in {tmp_path} (got 'gone.py')"
    )
