"""``ptm export systemd|kubernetes|compose FILE``: the ecosystem file for other runners
(see docs/deploy.md). The file is read and checked as ``ptm start`` reads it."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supervisor_core.errors import ConfigError

__all__ = ["export"]


def export(args: argparse.Namespace) -> int:
    """Write (or print) the files; list on stderr what the target cannot do."""
    from supervisor_core.config import load_ecosystem

    ecosystem = load_ecosystem(args.file, args.env)
    to_stdout = args.output == "-"
    folder = Path(args.output).absolute()
    if args.platform != "systemd" and not args.image:
        raise ConfigError(f"ptm export {args.platform} needs --image IMAGE", key="--image")
    if args.platform == "systemd":
        from supervisor_core.export import systemd_units

        units = systemd_units(
            ecosystem, journal=args.journal, env_dir=None if to_stdout else folder
        )
        files = [(unit.name, unit.text, unit.mode) for unit in units.files]
        lost = units.lost
    elif args.platform == "kubernetes":
        from supervisor_core.export import kubernetes_objects

        objects, lost = kubernetes_objects(
            ecosystem, image=args.image, stateful=args.stateful or (), cron=not args.no_cron
        )
        files = [("manifests.yaml", _yaml_documents(objects), 0o600)]
    else:
        from supervisor_core.export import compose_file

        document, env_files, lost = compose_file(ecosystem, image=args.image)
        files = [("compose.yaml", _yaml_documents([document]), 0o644)]
        files += [(name, _env_file(values), 0o600) for name, values in env_files.items()]
    if to_stdout:
        for name, text, _mode in files:
            sys.stdout.write(f"# ---- {name} ----\n{text}" if len(files) > 1 else text)
    else:
        _write(folder, files)
    if lost:
        print(f"[ptm] not carried over to {args.platform}:", file=sys.stderr)
        for what in lost:
            print(f"  - {what}", file=sys.stderr)
    return 0


def _write(folder: Path, files: Sequence[tuple[str, str, int]]) -> None:
    """Write each file into ``folder`` (created if missing); a path that cannot be written is
    one line naming it (exit 2), never followed through a symbolic link."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(
            "not a folder (it, or a folder above it, is a file)", file=str(folder), key="-o"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot create the folder: {exc.strerror or exc}", file=str(folder), key="-o"
        ) from None
    for name, text, mode in files:
        path = folder / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError(
                    "is a symbolic link; ptm writes no file through one (remove it, or choose"
                    " another -o)",
                    file=str(path),
                ) from None
            raise ConfigError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(path, mode)
        print(f"[ptm] wrote {path}")


def _yaml_documents(documents: Sequence[dict[str, Any]]) -> str:
    """One YAML document per object, keys in the order they were built (a stable diff)."""
    import yaml

    return "".join(
        "---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
        for doc in documents
    )


def _env_file(values: dict[str, str]) -> str:
    """An ``env_file`` as Compose reads it: ``KEY=value``, one a line, values quoted."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values.values())
    return "".join(f'{key}="{value}"\n' for key, value in zip(values, quoted, strict=True))
