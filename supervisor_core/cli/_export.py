"""``ptm export systemd FILE``: the ecosystem file as systemd units (see docs/deploy.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["export"]


def export(args: argparse.Namespace) -> int:
    """Write (or print) the units; list on stderr what systemd cannot do."""
    from supervisor_core.config import load_ecosystem
    from supervisor_core.export import systemd_units

    ecosystem = load_ecosystem(args.file, args.env)
    env_dir = None if args.output == "-" else Path(args.output).absolute()
    units = systemd_units(ecosystem, journal=args.journal, env_dir=env_dir)
    if args.output == "-":
        for unit in units.files:
            sys.stdout.write(f"# ---- {unit.name} ----\n{unit.text}\n")
    else:
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        for unit in units.files:
            path = folder / unit.name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, unit.mode)
            with os.fdopen(fd, "w") as file:
                file.write(unit.text)
            os.chmod(path, unit.mode)
            print(f"[ptm] wrote {path}")
    if units.lost:
        print("[ptm] not carried over to systemd:", file=sys.stderr)
        for what in units.lost:
            print(f"  - {what}", file=sys.stderr)
    return 0
