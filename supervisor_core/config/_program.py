"""What an app runs: ``script`` / ``command`` / ``args`` / ``interpreter`` into a full argv.

* ``command``: a whole command line (a list, or a string split like a shell would); its first
  word is a program on ``PATH`` or a path relative to ``cwd``.
* ``script`` with ``interpreter`` (anything but ``"none"``):
  ``[interpreter, *interpreter_args, script, *args]``; the interpreter is found on ``PATH`` (or
  is a path), the script is a file relative to ``cwd``.
* ``script`` without ``interpreter``: chosen by the script's extension as PM2 does: ``.py``
  runs with the Python running ptm (:data:`sys.executable`); ``.js``/``.mjs``/``.cjs`` with
  ``node``, ``.sh`` with ``bash``, ``.rb`` with ``ruby``, ``.php`` with ``php``, ``.pl`` with
  ``perl`` (found on ``PATH``). A ``.ts`` script needs ``interpreter`` (``tsx`` or
  ``ts-node``): PM2 bundles one, ptm does not.
* any other ``script`` (or ``interpreter = "none"``): run directly; a file in ``cwd`` (or a
  path) first, else a program on ``PATH``. It must be executable. ``interpreter_args`` is
  refused: there is no interpreter to give them to.

``PATH`` is the app's own ``env`` PATH when it sets one, else the one it inherits (the caller's
of ``ptm start``, else ptm's). Programs and scripts
become absolute paths, so what runs does not depend on where ptm was started.

With an ``absent`` list (``ptm import``, converting a file written for another machine), a
script or program that is not on this machine is noted there instead of refused, and the
argv is made as if it were.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from supervisor_core.config._fields import Table, command_line, string
from supervisor_core.errors import ConfigError

__all__ = ["INTERPRETERS", "NEEDS_INTERPRETER", "Program", "refuse_or_note", "resolve_program"]

INTERPRETERS: Final = {
    ".py": "python",
    ".js": "node",
    ".mjs": "node",
    ".cjs": "node",
    ".sh": "bash",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
}
"""The interpreter chosen by a script's extension when ``interpreter`` is not set."""

NEEDS_INTERPRETER: Final = {".ts": '"tsx" or "ts-node"'}
"""Extensions that PM2 runs with a runner it bundles: ptm asks for ``interpreter`` instead."""


@dataclass(frozen=True)
class Program:
    argv: tuple[str, ...]
    script: str
    """As written in the file (a command list is joined like a shell line)."""
    args: tuple[str, ...]
    interpreter: str | None
    interpreter_args: tuple[str, ...] = ()


def _file(text: str, cwd: Path) -> Path | None:
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = cwd / path
    path = Path(os.path.normpath(path))
    return path if path.is_file() else None


def _missing(text: str, cwd: Path) -> str:
    """Why the script ``text`` is not a file in ``cwd``."""
    path = Path(os.path.normpath(cwd / Path(text).expanduser()))
    if path.is_dir():  # PM2's sample has script: './service-worker/'
        return f"is a folder in {cwd}, not a file; name the file to run in it"
    return f"no such file in {cwd}"


def _program(text: str, cwd: Path, search_path: str | None) -> str | None:
    """An executable: a path (relative to ``cwd``) when ``text`` has a slash, else on PATH."""
    if "/" in text or text.startswith("~"):
        path = _file(text, cwd)
        return str(path) if path is not None and os.access(path, os.X_OK) else None
    return shutil.which(text, path=search_path)


def refuse_or_note(absent: list[ConfigError] | None, error: ConfigError) -> None:
    """Refuse a file or program missing on this machine, or note it in ``absent``."""
    if absent is None:
        raise error
    absent.append(error)


def _as_written(text: str, cwd: Path) -> Path:
    return Path(os.path.normpath(cwd / Path(text).expanduser()))


def _path_hint(search_path: str | None) -> str:
    return "the app's env PATH" if search_path is not None else "PATH"


def resolve_program(
    table: Table,
    cwd: Path,
    env_path: str | None,
    inherited_path: str | None = None,
    absent: list[ConfigError] | None = None,
) -> Program:
    """Read ``script``/``command``/``args``/``interpreter`` from ``table``. Programs are
    looked for on ``env_path`` (the app's own ``env`` PATH), else on ``inherited_path``, else
    on this process's ``PATH``. What is not on this machine is refused, or noted in
    ``absent`` when given."""
    if env_path is not None:
        search_path = env_path
    elif inherited_path is not None:
        search_path = inherited_path
    else:
        search_path = os.environ.get("PATH", os.defpath)
    if "command" in table:
        if "script" in table:
            raise table.error(
                "command",
                "cannot be combined with script; use one of them",
                value=table.data["command"],
            )
        return _command(table, cwd, search_path, env_path, absent)
    if "script" not in table:
        raise table.missing("script", "required (or command)")
    script = table.require("script", string)
    args: tuple[str, ...] = table.get("args", command_line, ())
    interpreter = table.optional("interpreter", string)
    interpreter_args: tuple[str, ...] = table.get("interpreter_args", command_line, ())
    suffix = Path(script).suffix.lower()
    if interpreter is None and suffix in NEEDS_INTERPRETER:
        raise table.missing(
            "interpreter",
            f"required for a {suffix} script: set interpreter = {NEEDS_INTERPRETER[suffix]}"
            " (installed with npm; ptm bundles no TypeScript runner)",
        )
    chosen = INTERPRETERS.get(suffix) if interpreter is None else None
    if chosen is not None or (interpreter is not None and interpreter.strip().lower() != "none"):
        script_file = _file(script, cwd)
        if script_file is None:
            refuse_or_note(absent, table.error("script", _missing(script, cwd), value=script))
            script_file = _as_written(script, cwd)
        if interpreter is not None:
            found = _program(interpreter, cwd, search_path)
            if found is None:
                hint = f"program not found (looked in {_path_hint(env_path)})"
                refuse_or_note(absent, table.error("interpreter", hint, value=interpreter))
                found = interpreter
        elif chosen == "python":
            found = sys.executable
        else:
            found = shutil.which(chosen or "", path=search_path)
            if found is None:
                hint = (
                    f"{chosen!r} (the default for {Path(script).suffix} scripts) is not on"
                    f" {_path_hint(env_path)}; set interpreter"
                )
                refuse_or_note(absent, table.missing("interpreter", hint))
                found = chosen or ""
        argv = (found, *interpreter_args, str(script_file), *args)
        return Program(argv, script, args, found, interpreter_args)
    if "interpreter_args" in table:
        raise table.error(
            "interpreter_args",
            f"{script!r} runs without an interpreter; set interpreter, or remove this key",
            value=table.data["interpreter_args"],
        )
    return _direct(table, script, args, cwd, search_path, env_path, absent)


def _direct(
    table: Table,
    script: str,
    args: tuple[str, ...],
    cwd: Path,
    search_path: str,
    env_path: str | None,
    absent: list[ConfigError] | None,
) -> Program:
    local = _file(script, cwd)
    if local is None and "/" not in script and not script.startswith("~"):
        if (cwd / script).is_dir():
            refuse_or_note(absent, table.error("script", _missing(script, cwd), value=script))
            return Program((script, *args), script, args, None)
        program = shutil.which(script, path=search_path)
        if program is None:
            reason = f"no such file in {cwd}, nor a program on {_path_hint(env_path)}"
            refuse_or_note(absent, table.error("script", reason, value=script))
            program = script
        return Program((program, *args), script, args, None)
    if local is None:
        refuse_or_note(absent, table.error("script", _missing(script, cwd), value=script))
        local = _as_written(script, cwd)
    elif not os.access(local, os.X_OK):
        reason = (
            'is not executable; set interpreter (for example interpreter = "node") or chmod +x it'
        )
        refuse_or_note(absent, table.error("script", reason, value=script))
    return Program((str(local), *args), script, args, None)


def _command(
    table: Table,
    cwd: Path,
    search_path: str,
    env_path: str | None,
    absent: list[ConfigError] | None,
) -> Program:
    for key in ("args", "interpreter", "interpreter_args"):
        if key in table:
            raise table.error(
                key,
                "cannot be combined with command; write the whole line in command",
                value=table.data[key],
            )
    raw = table.data["command"]
    words = table.convert("command", raw, command_line)
    if not words:
        raise table.error("command", "must not be empty", value=raw)
    program = _program(words[0], cwd, search_path)
    if program is None:
        if _file(words[0], cwd) is not None:
            reason = f"program {words[0]!r} is not executable"
        elif "/" in words[0] or words[0].startswith("~"):
            reason = f"program {words[0]!r} not found in {cwd}"
        else:
            reason = f"program {words[0]!r} not found on {_path_hint(env_path)}"
        refuse_or_note(absent, table.error("command", reason, value=raw))
        program = words[0]
    shown = raw if isinstance(raw, str) else shlex.join(words)
    return Program((program, *words[1:]), shown, (), None)
