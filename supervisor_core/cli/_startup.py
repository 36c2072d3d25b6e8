"""``ptm startup``: a systemd unit that runs the ptm daemon at boot, and its installation.

The unit runs ``ptm daemon --foreground`` as the user, with that user's ``PTM_HOME`` and
``PATH`` written into it, and stops it with ``ptm kill`` so that every app gets its own
graceful stop before systemd's ``TimeoutStopSec`` runs out. It differs from PM2's template
(``Type=forking`` around ``pm2 resurrect``) in three ways:

- the daemon stays in the foreground (``Type=simple``): systemd tracks its real pid, with no
  pid file to go stale. (``Type=notify`` would be better still, but only once the daemon sends
  ``READY=1``; a notify unit around a daemon that never does fails after 90 s.)
- ``KillMode=mixed``: at shutdown systemd signals the daemon only, which stops the apps in
  order, instead of signalling every process of the group at once (PM2's default
  ``control-group``); whatever is left after ``TimeoutStopSec`` gets SIGKILL.
- ``Restart=always``: a daemon that dies is started again.

Every value is checked (absolute paths, no newline) and quoted for systemd (``%`` specifiers
included), so a path with spaces or a ``%`` is written as it is meant.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from supervisor_core.errors import ConfigError, PtmError
from supervisor_core.export import environment_line, exec_program, one_line

__all__ = ["MARK", "UNIT_FOLDER", "install_unit", "remove_unit", "systemd_unit", "unit_path"]

UNIT_FOLDER: Final = Path("/etc/systemd/system")
MARK: Final = "# Written by `ptm startup`"
"""The first line of every unit ``ptm startup`` writes: ``ptm unstartup`` removes only those."""

_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,200}")
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?")

Runner = Callable[..., subprocess.CompletedProcess[Any]]


def _check_service_name(service_name: str) -> None:
    if _SERVICE_NAME.fullmatch(service_name) is None:
        raise ConfigError(
            "must be letters, digits, '_', '.', '@' or '-'",
            key="service_name",
            value=service_name,
            has_value=True,
        )


def _absolute(value: str, key: str) -> str:
    one_line(value, key)
    if not os.path.isabs(value):
        raise ConfigError("must be an absolute path", key=key, value=value, has_value=True)
    return value


def systemd_unit(
    *,
    ptm_executable: str,
    python: str,
    user: str,
    home: str,
    ptm_home: str,
    path_env: str,
    stop_timeout_s: int,
    service_name: str = "ptm",
) -> str:
    """The text of ``/etc/systemd/system/<service_name>.service`` for ``user``'s ptm daemon.

    ``ptm_executable`` and ``python`` are absolute paths (the interpreter is recorded in a
    comment: a unit outlives a virtualenv that is moved or rebuilt, which is when it must be
    written again); ``home`` becomes the working directory; ``ptm_home`` and ``path_env`` are
    written as ``PTM_HOME`` and ``PATH``, so the daemon at boot finds the same state and the same
    programs as the shell that ran ``ptm startup``. ``stop_timeout_s`` should exceed the apps'
    kill timeouts. Raises :class:`ConfigError` naming a bad value.
    """
    ptm = _absolute(ptm_executable, "ptm_executable")
    program = exec_program(ptm, "ptm_executable")
    _absolute(python, "python")
    workdir = _absolute(home, "home")
    state = _absolute(ptm_home, "ptm_home")
    one_line(path_env, "path_env")
    if _USER_NAME.fullmatch(user) is None:
        raise ConfigError("not a valid user name", key="user", value=user, has_value=True)
    _check_service_name(service_name)
    if isinstance(stop_timeout_s, bool) or not isinstance(stop_timeout_s, int):
        raise ConfigError(
            "must be a whole number of seconds",
            key="stop_timeout_s",
            value=stop_timeout_s,
            has_value=True,
        )
    if stop_timeout_s < 1:
        raise ConfigError(
            "must be at least 1 second", key="stop_timeout_s", value=stop_timeout_s, has_value=True
        )

    def comment(text: str) -> str:
        return "# " + text.replace("\n", " ")

    return "\n".join(
        [
            f"{MARK}: runs {user}'s ptm daemon at boot.".replace("\n", " "),
            comment(f"ptm runs on {python}; after moving or rebuilding that environment,"),
            comment("run `ptm startup --install` again."),
            "",
            "[Unit]",
            f"Description=ptm process manager ({user}, PTM_HOME={state})".replace("%", "%%"),
            "After=network.target",
            "",
            "[Service]",
            "Type=simple",
            f"User={user}",
            f"WorkingDirectory={workdir.replace('%', '%%')}",
            environment_line("PTM_HOME", state),
            environment_line("PATH", path_env),
            f"ExecStart={program} daemon --foreground",
            f"ExecStop={program} kill",
            "Restart=always",
            "RestartSec=2",
            "KillMode=mixed",
            f"TimeoutStopSec={stop_timeout_s}",
            f"LimitNOFILE={NOFILE_LIMIT}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


NOFILE_LIMIT = 65536
"""The unit's open-files limit: every app's pipes and log files are the daemon's descriptors
(systemd's default soft limit, 1024, runs out near 200 apps)."""


def unit_path(service_name: str = "ptm", *, folder: Path = UNIT_FOLDER) -> Path:
    """Where the unit of ``service_name`` is installed: ``/etc/systemd/system/<name>.service``."""
    _check_service_name(service_name)
    return folder / f"{service_name}.service"


def _write(text: str, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.ptm-tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        hint = " (installing a unit needs root: run it with sudo)" if exc.errno == 13 else ""
        raise PtmError(f"cannot write {path}: {exc.strerror or exc}{hint}") from None


def _systemctl(commands: Sequence[Sequence[str]], run: Runner, done: str) -> None:
    """Run each systemctl command in turn; ``done`` says what was already done when one fails."""
    for command in commands:
        try:
            result = run(list(command), capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise PtmError(
                f"{done}, but systemctl was not found: is this a systemd system?"
            ) from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()
            why = f": {detail[-1]}" if detail else ""
            raise PtmError(
                f"{done}, but `{' '.join(command)}` failed (exit {result.returncode}){why}"
            )


def install_unit(text: str, *, path: Path, run: Runner = subprocess.run) -> Sequence[Sequence[str]]:
    """Write the unit ``text`` at ``path``, then ``systemctl daemon-reload`` and ``enable`` it.

    The file is replaced atomically (mode 0644). The daemon starts at the next boot (or with
    ``systemctl start <name>``). ``run`` is called like :func:`subprocess.run`; the commands
    run are returned. Raises :class:`PtmError` with one line when a step fails.
    """
    _write(text, path)
    commands = (["systemctl", "daemon-reload"], ["systemctl", "enable", path.name])
    _systemctl(commands, run, f"wrote {path}")
    return commands


def remove_unit(*, path: Path, run: Runner = subprocess.run) -> Sequence[Sequence[str]]:
    """Undo :func:`install_unit`: ``systemctl disable`` the unit, delete it, ``daemon-reload``.

    Only a unit that ``ptm startup`` wrote (its first line is :data:`MARK`) is removed; any
    other file at ``path`` is left alone. A running daemon is not stopped. ``run`` is called
    like :func:`subprocess.run`; the commands run are returned. Raises :class:`PtmError` with
    one line when there is nothing to remove or a step fails (the file is kept when the
    unit could not be disabled).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            first = file.readline()
    except FileNotFoundError:
        raise PtmError(f"no unit at {path}: nothing to remove") from None
    except OSError as exc:
        raise PtmError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not first.startswith(MARK):
        raise PtmError(f"{path} was not written by `ptm startup`: left alone")
    disable = ["systemctl", "disable", path.name]
    _systemctl([disable], run, f"found {path}")
    try:
        path.unlink()
    except OSError as exc:
        hint = " (removing a unit needs root: run it with sudo)" if exc.errno == 13 else ""
        raise PtmError(
            f"disabled {path.name}, but cannot remove {path}: {exc.strerror or exc}{hint}"
        ) from None
    reload = ["systemctl", "daemon-reload"]
    _systemctl([reload], run, f"removed {path}")
    return (disable, reload)
