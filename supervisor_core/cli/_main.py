"""Argument parsing and dispatch of ``ptm``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from supervisor_core._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptm", description="A process manager for Python.")
    parser.add_argument("--version", action="version", version=f"ptm {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return 2
