"""Interpreters as PM2 picks them: by extension, ``interpreter``, ``interpreter_args``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from supervisor_core.config import AppSpec, load_ecosystem
from supervisor_core.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder as the current directory, with one script of each kind, and a bin
    folder (``tools``) holding fake interpreters."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("app.py", "app.js", "app.cjs", "app.mjs", "app.sh", "app.ts", "data.txt"):
        (project / name).write_text("")
    monkeypatch.chdir(project)
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "ptm-home"))
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("node", "bash", "tsx"):
        path = tools / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return project


def _tools(home: Path) -> Path:
    return home.parent / "tools"


def load_app(home: Path, keys: str, *, path: bool = True) -> AppSpec:
    """One app with ``keys``, its env PATH set to the fake interpreters (unless not ``path``)."""
    env = f'[apps.env]\nPATH = "{_tools(home)}"\n' if path else ""
    Path("ecosystem.toml").write_text(f'[[apps]]\nname = "x"\n{keys}\n{env}')
    return load_ecosystem("ecosystem.toml").apps[0]


def error(home: Path, keys: str, *, path: bool = True) -> str:
    with pytest.raises(ConfigError) as info:
        load_app(home, keys, path=path)
    message = str(info.value)
    assert "\n" not in message
    return message.split(": ", 1)[1]  # without the file's name


@pytest.mark.parametrize(
    ("script", "interpreter"),
    [("app.js", "node"), ("app.cjs", "node"), ("app.mjs", "node"), ("app.sh", "bash")],
)
def test_the_interpreter_is_chosen_by_extension(home: Path, script: str, interpreter: str) -> None:
    app = load_app(home, f'script = "{script}"\nargs = ["-v"]')
    found = str(_tools(home) / interpreter)
    assert app.argv == (found, str(home / script), "-v")
    assert app.interpreter == found


def test_a_python_script_runs_with_the_python_that_runs_ptm(home: Path) -> None:
    app = load_app(home, 'script = "app.py"', path=False)
    assert app.argv == (sys.executable, str(home / "app.py"))


@pytest.mark.parametrize(("script", "interpreter"), [("app.js", "node"), ("app.sh", "bash")])
def test_a_missing_default_interpreter_is_a_config_error_naming_it(
    home: Path, script: str, interpreter: str
) -> None:
    Path("ecosystem.toml").write_text(
        f'[[apps]]\nname = "x"\nscript = "{script}"\n[apps.env]\nPATH = "/nonexistent"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_ecosystem("ecosystem.toml")
    suffix = Path(script).suffix
    assert str(info.value).endswith(
        f"apps[0].interpreter: {interpreter!r} (the default for {suffix} scripts) is not on the"
        " app's env PATH; set interpreter"
    )


def test_a_missing_explicit_interpreter_is_a_config_error_naming_it(home: Path) -> None:
    assert error(home, 'script = "app.js"\ninterpreter = "node-99"') == (
        "apps[0].interpreter: program not found (looked in the app's env PATH) (got 'node-99')"
    )


def test_a_typescript_script_needs_an_interpreter(home: Path) -> None:
    assert error(home, 'script = "app.ts"') == (
        'apps[0].interpreter: required for a .ts script: set interpreter = "tsx" or "ts-node"'
        " (installed with npm; ptm bundles no TypeScript runner)"
    )
    app = load_app(home, 'script = "app.ts"\ninterpreter = "tsx"')
    assert app.argv == (str(_tools(home) / "tsx"), str(home / "app.ts"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '["--max-old-space-size=512", "--trace-warnings"]',
            ("--max-old-space-size=512", "--trace-warnings"),
        ),
        ('"-X dev -W error"', ("-X", "dev", "-W", "error")),  # split like a shell
    ],
)
def test_interpreter_args_go_between_the_interpreter_and_the_script(
    home: Path, value: str, expected: tuple[str, ...]
) -> None:
    app = load_app(home, f'script = "app.js"\ninterpreter_args = {value}\nargs = "--port 80"')
    node = str(_tools(home) / "node")
    assert app.argv == (node, *expected, str(home / "app.js"), "--port", "80")
    assert app.interpreter_args == expected
    assert app.args == ("--port", "80")


def test_interpreter_args_with_the_default_python_and_an_explicit_interpreter(home: Path) -> None:
    app = load_app(home, 'script = "app.py"\ninterpreter_args = ["-X", "dev"]', path=False)
    assert app.argv == (sys.executable, "-X", "dev", str(home / "app.py"))
    app = load_app(home, 'script = "data.txt"\ninterpreter = "bash"\ninterpreter_args = "-e"')
    assert app.argv == (str(_tools(home) / "bash"), "-e", str(home / "data.txt"))


def test_interpreter_args_in_defaults_apply_to_every_app(home: Path) -> None:
    Path("ecosystem.toml").write_text(
        '[defaults]\ninterpreter_args = ["-X", "dev"]\n'
        '[[apps]]\nname = "a"\nscript = "app.py"\n'
        '[[apps]]\nname = "b"\nscript = "app.py"\ninterpreter_args = []\n'
    )
    a, b = load_ecosystem("ecosystem.toml").apps
    assert a.argv == (sys.executable, "-X", "dev", str(home / "app.py"))
    assert b.argv == (sys.executable, str(home / "app.py"))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            'command = "sh -c true"\ninterpreter_args = ["-e"]',
            "apps[0].interpreter_args: cannot be combined with command; write the whole line in"
            " command (got ['-e'])",
        ),
        (
            'script = "app.js"\ninterpreter = "none"\ninterpreter_args = ["-e"]',
            "apps[0].interpreter_args: 'app.js' runs without an interpreter; set interpreter, or"
            " remove this key (got ['-e'])",
        ),
        (
            'script = "sh"\ninterpreter_args = "-e"',
            "apps[0].interpreter_args: 'sh' runs without an interpreter; set interpreter, or"
            " remove this key (got '-e')",
        ),
        (
            'script = "app.js"\ninterpreter_args = 5',
            "apps[0].interpreter_args: must be a string or a list of strings (got 5)",
        ),
        (
            'script = "app.js"\nnode_args = ["--inspect"]',
            "apps[0].node_args: unknown key; did you mean interpreter_args? (PM2's node_args is"
            " interpreter_args in ptm)",
        ),
        (
            'script = "app.js"\nnodeArgs = ["--inspect"]',
            "apps[0].nodeArgs: unknown key; did you mean interpreter_args? (PM2's node_args is"
            " interpreter_args in ptm)",
        ),
    ],
)
def test_interpreter_args_errors(home: Path, keys: str, message: str) -> None:
    assert error(home, keys, path=False) == message
