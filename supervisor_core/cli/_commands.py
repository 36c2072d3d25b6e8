"""The ``ptm`` commands that talk to the daemon (and ``init``, ``startup``, ``daemon``).

Each command takes the parsed arguments and returns the exit code; failures are raised as
:class:`~supervisor_core.errors.PtmError` and turned into one line by ``_main``. Only the
standard library is imported here at first: each command imports what it needs, so that
``ptm jlist`` loads the client (not httpx: its GET uses the standard library), nothing of
the engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = [
    "daemon",
    "describe",
    "flush",
    "init",
    "jlist",
    "kill",
    "list_",
    "metrics",
    "reload_logs",
    "resurrect",
    "save",
    "startup",
]

KILL_WAIT = 300.0
"""How long ``ptm kill`` waits for the daemon to stop every app and exit."""
DEFAULT_STOP_TIMEOUT = 30
"""``TimeoutStopSec`` of the systemd unit when no saved app says otherwise."""


def connect(*, autostart: bool = True) -> Client:
    from supervisor_core.client import Client

    return Client(autostart=autostart)


def say(text: str) -> None:
    print(f"[ptm] {text}", flush=True)


def target_of(text: str) -> str:
    """A target as the API wants it: an existing ecosystem file becomes its absolute path.

    ``config`` (about 35 ms of imports) is loaded only when a file of that name exists, so
    that ``ptm pid web`` or ``ptm describe web`` stay as light as ``ptm jlist``."""
    if not os.path.isfile(text):
        return text
    if os.sep in text:
        return os.path.abspath(text)
    from supervisor_core.config import is_ecosystem_file

    return os.path.abspath(text) if is_ecosystem_file(text) else text


def _names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(row.get("name")) for row in rows))


def _terminal_width() -> int | None:
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def print_table(client: Client) -> None:
    from supervisor_core.cli._format import use_color
    from supervisor_core.cli._list import render_list

    rows = client.processes()
    print(render_list(rows, color=use_color(sys.stdout), width=_terminal_width()), flush=True)


def _check_online(rows: Sequence[Mapping[str, Any]]) -> int:
    """1 (with a line on stderr) if an instance just started is errored."""
    errored = _names(row for row in rows if row.get("status") == "errored")
    if not errored:
        return 0
    print(
        f"ptm: {', '.join(errored)} did not come online (errored);"
        f" see: ptm logs {errored[0]} --nostream",
        file=sys.stderr,
    )
    return 1


# -- seeing -----------------------------------------------------------------------------------


def list_(args: argparse.Namespace) -> int:
    with connect() as client:
        print_table(client)
    return 0


def jlist(args: argparse.Namespace) -> int:
    with connect() as client:
        rows = client.processes()
    sys.stdout.write(json.dumps(rows) + "\n")
    sys.stdout.flush()
    return 0


def describe(args: argparse.Namespace) -> int:
    from supervisor_core.cli._describe import describe_data, render_describe
    from supervisor_core.cli._format import use_color

    with connect() as client:
        data = describe_data(client, target_of(args.target))
    print(render_describe(data, color=use_color(sys.stdout), width=_terminal_width()))
    return 0


# -- logs -------------------------------------------------------------------------------------


def flush(args: argparse.Namespace) -> int:
    with connect() as client:
        answer = client.flush(args.app)
    paths = answer.get("flushed") or []
    say(f"flushed {len(paths)} log file{'s' if len(paths) != 1 else ''}")
    for path in paths:
        print(f"  {path}")
    return 0


def reload_logs(args: argparse.Namespace) -> int:
    """Never starts a daemon: a new one has no file to reopen, and the usual caller is
    logrotate's postrotate, run as root with root's home, not as the daemon's user."""
    from supervisor_core.errors import DaemonNotRunning

    with connect(autostart=False) as client:
        try:
            client.reload_logs()
        except DaemonNotRunning:
            print(
                f"ptm: no daemon running for PTM_HOME={client.home}: no log file to reopen"
                " (run ptm reloadLogs as the daemon's user, with its PTM_HOME)",
                file=sys.stderr,
            )
            return 1
    say("log files reopened")
    return 0


# -- the daemon -------------------------------------------------------------------------------


def save(args: argparse.Namespace) -> int:
    with connect() as client:
        answer = client.save(force=args.force)
    count = answer.get("apps")
    say(f"saved {count} app{'s' if count != 1 else ''} to {answer.get('path')}")
    return 0


def resurrect(args: argparse.Namespace) -> int:
    from supervisor_core._home import Home
    from supervisor_core.client import ensure_daemon
    from supervisor_core.errors import DaemonNotRunning

    new_daemon: int | None = None
    with connect(autostart=False) as client:
        try:
            client.ping()
        except DaemonNotRunning:  # e.g. right after ptm kill: the new daemon restores its apps
            new_daemon = ensure_daemon(client.home)
    with connect() as client:
        if new_daemon is not None:
            rows = client.processes()
            restored = _names([row for row in rows if row.get("status") != "stopped"])
            say(
                f"the daemon was not running: started it (pid {new_daemon}); "
                f"it restored {', '.join(restored) or 'no app'}"
            )
        answer = client.resurrect(dict(os.environ))
        started = answer.get("started") or []
        skipped = answer.get("skipped") or []
        if new_daemon is not None and not started:
            say(f"nothing more to start from {Home(client.home).dump}")
        else:
            say(f"resurrected {', '.join(started) or 'nothing'}")
            if skipped:
                say(f"already running: {', '.join(skipped)}")
        print_table(client)
    return 0


def kill(args: argparse.Namespace) -> int:
    from supervisor_core.errors import DaemonNotRunning

    with connect(autostart=False) as client:
        try:
            answer = client.kill(wait=KILL_WAIT)
        except DaemonNotRunning:
            say("no daemon running")
            return 0
    say(f"every app stopped; daemon stopped (pid {answer.get('pid')})")
    return 0


def metrics(args: argparse.Namespace) -> int:
    with connect() as client:
        sys.stdout.write(client.metrics())
    return 0


def daemon(args: argparse.Namespace) -> int:
    """``ptm daemon --foreground`` (systemd's ExecStart); without it, start it detached."""
    if args.foreground:
        from supervisor_core.daemon import main as daemon_main

        return daemon_main(["--foreground"])
    from supervisor_core.client import ensure_daemon

    say(f"daemon running (pid {ensure_daemon()})")
    return 0


# -- files ------------------------------------------------------------------------------------


def init(args: argparse.Namespace) -> int:
    from supervisor_core.cli._init import write_template

    path = write_template(Path.cwd(), force=args.force)
    say(f"wrote {path}; edit it, then: ptm start {path.name}")
    return 0


def startup(args: argparse.Namespace) -> int:
    import getpass

    from supervisor_core._home import Home
    from supervisor_core.cli._startup import install_unit, systemd_unit, unit_path

    home = Home.from_env().root
    text = systemd_unit(
        ptm_executable=ptm_executable(),
        python=sys.executable,
        user=getpass.getuser(),
        home=str(Path.home()),
        ptm_home=str(home),
        path_env=os.environ.get("PATH", os.defpath),
        stop_timeout_s=stop_timeout(home / "dump.toml"),
        service_name=args.service_name,
    )
    if not args.install:
        sys.stdout.write(text)
        return 0
    path = unit_path(args.service_name)
    install_unit(text, path=path)
    say(f"installed {path} and enabled it; it starts at the next boot")
    say(f"start it now with: systemctl start {path.name}")
    return 0


def ptm_executable() -> str:
    """The absolute path of this ``ptm`` (the console script next to this Python if need be)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and os.path.basename(argv0) == "ptm":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found:
            return os.path.abspath(found)
    beside = Path(sys.executable).parent / "ptm"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ptm")
    from supervisor_core.errors import PtmError

    if not found:
        raise PtmError("cannot find the ptm executable (is ptm installed in this environment?)")
    return os.path.abspath(found)


def stop_timeout(dump: Path) -> int:
    """Seconds systemd waits for ``ptm kill``: the saved apps' longest kill_timeout + 10 s."""
    import tomllib

    from supervisor_core.config import StopPolicy, parse_duration

    try:
        data = tomllib.loads(dump.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_STOP_TIMEOUT
    defaults = data.get("defaults")
    if not isinstance(defaults, dict):
        defaults = {}
    apps = data.get("apps")
    if not isinstance(apps, list):
        apps = []
    timeouts: list[float] = []
    for app in apps:
        if not isinstance(app, dict):
            continue
        value = app.get("kill_timeout", defaults.get("kill_timeout"))
        try:
            timeouts.append(StopPolicy().kill_timeout if value is None else parse_duration(value))
        except (ValueError, TypeError):
            continue
    if not timeouts:
        return DEFAULT_STOP_TIMEOUT
    return math.ceil(max(timeouts)) + 10
