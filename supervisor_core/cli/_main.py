"""Argument parsing and dispatch of ``ptm``.

Exit codes: 0 success, 1 the command failed, 2 usage or configuration error. An expected
failure prints one line on stderr, never a traceback. Command modules are imported only when
their command runs, so that light commands stay fast (``ptm jlist`` imports the client,
never the engine nor httpx).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from supervisor_core._version import __version__
from supervisor_core.cli._argtypes import instance_index, instances, line_count
from supervisor_core.cli._startargs import add_start_arguments, add_update_env, joined_values

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# command -> (module of supervisor_core.cli, function taking the parsed arguments)
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("_run", "run_command"),
    "start": ("_start", "start"),
    "stop": ("_acting", "act"),
    "restart": ("_acting", "act"),
    "reload": ("_acting", "act"),
    "delete": ("_acting", "delete"),
    "list": ("_commands", "list_"),
    "jlist": ("_commands", "jlist"),
    "prettylist": ("_pm2", "prettylist"),
    "describe": ("_commands", "describe"),
    "env": ("_pm2", "env"),
    "pid": ("_pm2", "pid"),
    "logs": ("_logs", "logs"),
    "flush": ("_commands", "flush"),
    "reloadLogs": ("_commands", "reload_logs"),
    "monit": ("_monit", "monit"),
    "save": ("_commands", "save"),
    "resurrect": ("_commands", "resurrect"),
    "scale": ("_acting", "scale"),
    "signal": ("_acting", "signal"),
    "reset": ("_acting", "reset"),
    "kill": ("_commands", "kill"),
    "ping": ("_update", "ping"),
    "metrics": ("_commands", "metrics"),
    "update": ("_update", "update"),
    "init": ("_commands", "init"),
    "startup": ("_commands", "startup"),
    "unstartup": ("_pm2", "unstartup"),
    "export": ("_export", "export"),
    "import": ("_import", "import_"),
    "daemon": ("_commands", "daemon"),
}
_ALIASES = {
    "ls": "list",
    "status": "list",
    "show": "describe",
    "info": "describe",
    "del": "delete",
    "sendSignal": "signal",
}


def unknown_command(word: str) -> str:
    """The message for a command that does not exist: what to use instead of a PM2 command,
    else the closest command or alias."""
    from supervisor_core.cli._unknown import unknown_command_message  # this error path only

    return unknown_command_message(word, (set(_COMMANDS) | set(_ALIASES)) - {"daemon"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("argument COMMAND: invalid choice:"):
            word = message.split("'")[1] if message.count("'") >= 2 else "?"
            message = unknown_command(word)
        elif message.startswith("unrecognized arguments:") and " --env" in f" {message}":
            # PM2's `restart FILE --env production`: the file's overlay is ptm start's
            message += (
                "; to run a file's apps with its [apps.env_NAME] overlay, use ptm start FILE"
                " --env NAME (an app already running is restarted with it)"
            )
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _target(parser: argparse.ArgumentParser, what: str = "the apps to act on") -> None:
    parser.add_argument(
        "target",
        metavar="NAME|ID|all|FILE",
        help=f"{what}: a name, a process id (that one process), all, or a file",
    )


def _only_and_env(parser: argparse.ArgumentParser, only: str, overlay: str) -> None:
    parser.add_argument("--only", metavar="A,B", help=only)
    parser.add_argument("--env", metavar="NAME", help=f"{overlay} [apps.env_NAME] overlay")


def _unit(parser: argparse.ArgumentParser) -> None:
    """``startup`` and ``unstartup``: which init system, which unit."""
    parser.add_argument(
        "platform",
        nargs="?",
        choices=["systemd"],
        default="systemd",
        help="the init system (systemd)",
    )
    parser.add_argument("--service-name", default="ptm", help="the unit's name (ptm)")


def _command(commands: argparse._SubParsersAction[_Parser], name: str, **kwargs: Any) -> _Parser:
    """A command's parser; its ``--help`` opens with the one-line help when it has no longer
    description of its own."""
    text = kwargs.get("help")
    if isinstance(text, str) and kwargs.get("description") is None:
        kwargs["description"] = text[0].upper() + text[1:] + "."
    return commands.add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ptm",
        description="ptm: a process manager for Python services.",
        epilog="Run 'ptm COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"ptm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _command(
        commands,
        "run",
        help="supervise the apps of an ecosystem file in the foreground (no daemon)",
        description=(
            "Supervise the apps of an ecosystem file in the foreground, like pm2-runtime: "
            "for containers and systemd units. Output lines are printed prefixed with the "
            "app name; Ctrl-C or SIGTERM stops every app gracefully and exits 0. When every "
            "app has ended on its own, ptm exits: 1 if one is errored, else 0."
        ),
    )
    run.add_argument(
        "ecosystem", help="the ecosystem file (TOML, or PM2's ecosystem.config.js, .json, .yaml)"
    )
    _only_and_env(run, "run only these apps (comma-separated)", "apply each app's")
    run.add_argument("--no-color", action="store_true", help="never colour the output")

    start = _command(
        commands,
        "start",
        help="start (or update and restart) the apps of a file, a script, or known apps",
        description=(
            "Start apps from a file, a script or the list. "
            "ptm start ecosystem.toml: start the apps of the file; an app already running is "
            "restarted with the new settings. ptm start SCRIPT: start one app without a file "
            "(arguments for the script go after --). ptm start NAME|ID|all: start known apps "
            "that are stopped. The apps inherit this shell's environment under their env. "
            "It returns when every instance it started is online and has stayed up for "
            "min_uptime (or is ready, with wait_ready), and exits 1 naming the one that is "
            "not. The daemon is started if it is not running."
        ),
    )
    add_start_arguments(start)

    for name, text in (
        ("stop", "stop apps (they stay in the list)"),
        ("restart", "restart apps (counted in restarts, reason manual)"),
        ("reload", "replace apps one instance at a time (zero downtime with a shared socket)"),
    ):
        acting = _command(commands, name, help=text)
        _target(acting)
        if name != "stop":
            add_update_env(acting, "the apps take this shell's environment (else they keep theirs)")
    delete = _command(
        commands, "delete", aliases=["del"], help="stop apps and remove them from the list"
    )
    _target(delete)

    _command(
        commands,
        "list",
        aliases=["ls", "status"],
        help="the table of every process",
        description="The table of every process: id, name, mode, pid, status, restarts, uptime,"
        " cpu and memory.",
    )
    _command(commands, "jlist", help="every process as JSON, for scripts")
    _command(commands, "prettylist", help="every process as indented JSON (jlist, for people)")
    describe = _command(commands, "describe", aliases=["show", "info"], help="one app in full")
    _target(describe, "the app")
    env = _command(
        commands,
        "env",
        help="the environment an app's instance runs with, secret values masked",
        description=(
            "Print the variables an instance runs with besides those it inherits from the "
            "shell that ran ptm start: the app's env and ptm's own (PTM_APP_NAME, "
            "PTM_INSTANCE, ...), one NAME=value per line. A value whose name contains pass, "
            "secret, token, key or pwd is shown as ****."
        ),
    )
    env.add_argument("target", metavar="NAME|ID", help="the app, or a process id")
    env.add_argument(
        "--instance",
        type=instance_index,
        default=None,
        metavar="N",
        help="which instance (default: the process's with an id, else 0)",
    )
    pid = _command(
        commands,
        "pid",
        help="the pid of every running instance, one per line",
        description=(
            "Print the pid of every running instance, one per line (nothing for a stopped app)."
        ),
    )
    pid.add_argument(
        "target", nargs="?", metavar="NAME|ID", help="one app or process (default: every app)"
    )

    logs = _command(
        commands,
        "logs",
        help="print the last log lines, then follow (Ctrl-C to stop)",
        description="Print the last lines of the log files, then the new ones as they come.",
    )
    logs.add_argument(
        "app", nargs="?", metavar="NAME|ID", help="one app, or one process by id (default: all)"
    )
    logs.add_argument(
        "--lines", type=line_count, default=15, metavar="N", help="lines per file (15)"
    )
    which = logs.add_mutually_exclusive_group()
    which.add_argument("--out", action="store_true", help="standard output only")
    which.add_argument("--err", action="store_true", help="standard error only")
    logs.add_argument("--nostream", action="store_true", help="print the last lines and exit")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")

    flush = _command(commands, "flush", help="empty the log files")
    flush.add_argument("app", nargs="?", metavar="NAME", help="one app (default: every app)")
    _command(commands, "reloadLogs", help="reopen the log files (after an external logrotate)")
    _command(commands, "monit", help="live view of every app's cpu, memory and logs")

    save = _command(commands, "save", help="write the running set to $PTM_HOME/dump.toml")
    save.add_argument(
        "--force", action="store_true", help="overwrite a saved list even with nothing running"
    )
    _command(commands, "resurrect", help="start the apps of dump.toml that are not running")

    scale = _command(commands, "scale", help="change the number of instances of an app")
    _target(scale, "the app")
    scale.add_argument(
        "instances", type=instances, metavar="N", help="the new number, or +N/-N: add or remove N"
    )
    sig = _command(commands, "signal", aliases=["sendSignal"], help="send a signal to an app")
    sig.add_argument("signal", metavar="SIGNAL", help="SIGUSR1, USR1, SIGHUP, ...")
    _target(sig)
    reset = _command(commands, "reset", help="zero the restart counters")
    _target(reset)

    _command(commands, "kill", help="stop every app, then the daemon")
    _command(commands, "ping", help="start the daemon if needed, print its pid and version")
    _command(
        commands,
        "update",
        help="replace the daemon with the installed version; every app runs on",
        description=(
            "Check that the installed version of ptm starts, then have the daemon re-execute "
            "as it: same pid, every app keeps its pid, restart count and log pipes "
            "(see docs/update.md). Refused (exit 1) when the check fails."
        ),
    )
    _command(
        commands,
        "metrics",
        help="print the daemon's figures in Prometheus' text format",
        description=(
            "Print every process's cpu seconds, memory, uptime, status and restarts by "
            "reason, and the daemon's log figures, as Prometheus scrapes them from "
            "GET /v1/metrics (see docs/metrics.md)."
        ),
    )
    init = _command(commands, "init", help="write a commented ecosystem.toml to start from")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    startup = _command(
        commands,
        "startup",
        help="print (or --install) a systemd unit that runs the daemon at boot",
        description=(
            "Print a systemd unit that runs this user's ptm daemon at boot; with --install, "
            "write it to /etc/systemd/system and enable it (needs root)."
        ),
    )
    _unit(startup)
    startup.add_argument("--install", action="store_true", help="install and enable the unit")
    unstartup = _command(
        commands,
        "unstartup",
        help="disable and remove the systemd unit that startup --install wrote",
        description=(
            "Disable and remove the systemd unit that ptm startup --install wrote (needs "
            "root); a unit ptm did not write is left alone. A running daemon is not stopped."
        ),
    )
    _unit(unstartup)

    import_ = _command(
        commands,
        "import",
        help="convert a PM2 ecosystem file (.js, .json, .yaml) into a commented ecosystem.toml",
        description=(
            "Convert a PM2 ecosystem file (ecosystem.config.js, .json, .yaml) into a commented "
            "ecosystem.toml that loads to the same apps, and print what was mapped, converted "
            "or dropped, and why. ptm start reads PM2 files as they are; import is for "
            "keeping a TOML file from now on."
        ),
    )
    import_.add_argument("file", metavar="FILE", help="the PM2 ecosystem file")
    import_.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the TOML (default: ecosystem.toml beside FILE; - prints it)",
    )
    import_.add_argument("--force", action="store_true", help="overwrite an existing file")

    export = _command(
        commands,
        "export",
        help="write the ecosystem file's apps for systemd, Kubernetes or Compose",
        description=(
            "Write every app of an ecosystem file as systemd units, Kubernetes objects or a "
            "Compose file, mapping every setting the target can enforce; what it cannot is "
            "listed on stderr. The file is read and checked as ptm start does."
        ),
    )
    export.add_argument(
        "platform",
        choices=["systemd", "kubernetes", "compose"],
        help="the target: systemd, kubernetes or compose",
    )
    export.add_argument(
        "file", metavar="FILE", help="the ecosystem file (TOML, or a PM2 .js, .json, .yaml)"
    )
    export.add_argument("--env", metavar="NAME", help="apply the env_NAME overlay")
    export.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default="-",
        help="the folder to write the units to (default -: print them)",
    )
    export.add_argument(
        "--journal", action="store_true", help="systemd: output to the journal, not log files"
    )
    export.add_argument(
        "--image", metavar="IMAGE", help="kubernetes, compose: the container image of the apps"
    )
    export.add_argument(
        "--stateful",
        metavar="NAME",
        action="append",
        help="kubernetes: this app keeps local state (1 replica, Recreate, a volume)",
    )
    export.add_argument(
        "--no-cron", action="store_true", help="kubernetes: no CronJob for cron_restart"
    )

    daemon = _command(commands, "daemon")  # no help: hidden from the list
    daemon.add_argument("--foreground", action="store_true")
    return parser


def _split_script_args(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``ptm start app.py -- --port 3000``: what follows ``--`` goes to the script."""
    if "--" not in argv:
        return joined_values(argv), None
    at = argv.index("--")
    return joined_values(argv[:at]), argv[at + 1 :]


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module_name, function = _COMMANDS[command]
    module = importlib.import_module(f"supervisor_core.cli.{module_name}")
    handler: Callable[[argparse.Namespace], int] = getattr(module, function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words, script_args = _split_script_args(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    command = _ALIASES.get(args.command, args.command)
    args.command = command
    if script_args is not None and command != "start":
        parser.error("arguments after -- are only for 'ptm start SCRIPT'")
    args.script_args = script_args
    from supervisor_core.errors import ApiError, ConfigError, PtmError

    try:
        return _handler(command)(args)
    except ConfigError as exc:
        return _fail(exc, EXIT_USAGE)
    except ApiError as exc:
        return _fail(exc, EXIT_USAGE if exc.kind in ("config", "bad_request") else EXIT_FAILED)
    except PtmError as exc:
        return _fail(exc, EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:  # `ptm jlist | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


def _fail(exc: Exception, code: int) -> int:
    print(f"ptm: {exc}", file=sys.stderr)
    return code
