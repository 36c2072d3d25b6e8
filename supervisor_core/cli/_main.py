"""Argument parsing and dispatch of ``ptm``.

Exit codes: 0 success, 1 the command failed, 2 usage or configuration error. An expected
failure prints one line on stderr, never a traceback. Command modules are imported only when
their command runs, so that light commands stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from supervisor_core._version import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ptm",
        description="ptm: a process manager for Python services.",
        epilog="Run 'ptm COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"ptm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="supervise the apps of an ecosystem file in the foreground (no daemon)",
        description=(
            "Supervise the apps of an ecosystem file in the foreground, like pm2-runtime: "
            "for containers and systemd units. Output lines are printed prefixed with the "
            "app name; Ctrl-C or SIGTERM stops every app gracefully and exits 0. When every "
            "app has ended on its own, ptm exits: 1 if one is errored, else 0."
        ),
    )
    run.add_argument("ecosystem", help="the ecosystem file (TOML)")
    run.add_argument("--only", metavar="A,B", help="run only these apps (comma-separated)")
    run.add_argument("--env", metavar="NAME", help="apply each app's [apps.env_NAME] overlay")
    run.add_argument("--no-color", action="store_true", help="never colour the output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from supervisor_core.errors import ConfigError, PtmError

    try:
        if args.command == "run":
            from supervisor_core.cli._run import run_command

            return run_command(args)
    except ConfigError as exc:
        print(f"ptm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PtmError as exc:
        print(f"ptm: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    parser.error(f"unknown command {args.command!r}")
