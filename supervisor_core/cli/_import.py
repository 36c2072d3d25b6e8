"""``ptm import FILE [-o ecosystem.toml]``: a PM2 ecosystem file as a commented TOML file,
and a report of what became of each PM2 key (see docs/coming-from-pm2.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from supervisor_core.config import Note, import_pm2, is_pm2_file
from supervisor_core.errors import ConfigError

__all__ = ["import_", "report"]

_DEFAULT_NAME = "ecosystem.toml"


def import_(args: argparse.Namespace) -> int:
    source: str = args.file
    to_stdout = args.output == "-"
    if args.output is None:
        output = Path(source).absolute().parent / _DEFAULT_NAME
    elif to_stdout:
        output = Path.cwd() / _DEFAULT_NAME  # where relative paths are taken from
    else:
        output = Path(args.output).absolute()
    if not to_stdout and not output.name.lower().endswith(".toml"):
        # ptm start would read it by its name (a .json as JSON...); -o on the source with
        # --force would overwrite the PM2 file.
        why = f" (ptm reads {output.name} as a PM2 file)" if is_pm2_file(output) else ""
        raise ConfigError(f"-o must name a .toml file{why}, or - for stdout", file=str(output))
    if not to_stdout and output.exists() and not args.force:
        raise ConfigError(
            "already exists; use --force to overwrite it, or -o another file", file=str(output)
        )
    if not to_stdout and not output.parent.is_dir():
        raise ConfigError("no such folder", file=str(output.parent))
    imported = import_pm2(source, output)
    for line in imported.absent:  # the file was written for another machine
        print(
            f"ptm: warning: {line}: not on this machine; written as it is (ptm start needs it"
            " where the app runs)",
            file=sys.stderr,
        )
    stream = sys.stderr if to_stdout else sys.stdout
    if to_stdout:
        sys.stdout.write(imported.text)
        sys.stdout.flush()
    else:
        _write(output, imported.text)
        print(f"[ptm] wrote {output} ({', '.join(imported.apps)})", file=stream)
    report(imported.notes, stream)
    if not to_stdout:
        print(f"[ptm] start it with: ptm start {output}", file=stream)
    return 0


def report(notes: Sequence[Note], stream: TextIO) -> None:
    """What was mapped, converted or dropped (and why), grouped in that order."""
    mapped = [note for note in notes if note.kind == "mapped"]
    if mapped:
        print("mapped as they are:", file=stream)
        for note in mapped:
            print(f"  {note.key}" + (f": {note.text}" if note.text else ""), file=stream)
    for kind, title in (("converted", "converted:"), ("dropped", "dropped, no ptm equivalent:")):
        chosen = [note for note in notes if note.kind == kind]
        if chosen:
            print(title, file=stream)
            for note in chosen:
                print(f"  {note.key}: {note.text}", file=stream)


def _write(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a temporary file renamed over ``path``)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
