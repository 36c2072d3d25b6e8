"""Commands PM2 users type: ``env``, ``pid``, ``prettylist`` and ``unstartup``.

Like ``_commands``, only the standard library is imported at first; each command imports what
it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor_core.cli._commands import connect, say, target_of

if TYPE_CHECKING:
    from supervisor_core.cli._startup import Runner

__all__ = ["env", "environment", "pid", "prettylist", "unstartup"]


def prettylist(args: argparse.Namespace) -> int:
    """``ptm jlist``, indented for people."""
    with connect() as client:
        rows = client.processes()
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    sys.stdout.flush()
    return 0


def pid(args: argparse.Namespace) -> int:
    """The pid of every running instance (of one app with ``NAME``), one per line."""
    with connect() as client:
        if args.target is None:
            rows = client.processes()
        else:
            rows = client.describe(target_of(args.target)).get("processes") or []
    pids = [str(row["pid"]) for row in rows if row.get("pid")]
    if pids:
        sys.stdout.write("\n".join(pids) + "\n")
        sys.stdout.flush()
    return 0


def environment(
    data: Mapping[str, Any], *, instance: int, home: str | None
) -> dict[str, str] | None:
    """The variables instance ``instance`` of the described app runs with, besides those it
    inherits from the daemon: the app's ``env`` and ptm's own (``PTM_APP_NAME``,
    ``PTM_INSTANCE``, ``NODE_APP_INSTANCE``, ``PTM_HOME``, ``PYTHONUNBUFFERED``, and
    ``PTM_RUN_ID`` while it runs). ``None`` when the app has no such instance."""
    from supervisor_core.process import RUN_ID_VAR, build_env

    rows: Sequence[Mapping[str, Any]] = data.get("processes") or []
    row = next((r for r in rows if r.get("instance") == instance), None)
    if row is None:
        return None
    run_id = ""
    if row.get("pid"):
        for run in data.get("runs") or []:
            if run.get("instance") == instance and run.get("pid") == row["pid"]:
                if run.get("ended_at") is None:
                    run_id = str(run.get("run_id") or "")
                break
    variables = build_env(
        app=str(data.get("name")),
        instance=instance,
        app_env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        run_id=run_id,
        ptm_home=home,
        base={},
    )
    if not run_id:
        variables.pop(RUN_ID_VAR, None)
    return variables


def env(args: argparse.Namespace) -> int:
    """``ptm env NAME|ID``: the environment of one instance, secret values masked."""
    from supervisor_core.cli._describe import mask_env
    from supervisor_core.errors import PtmError

    with connect() as client:
        data = client.describe(target_of(args.target))
        home = client.info().get("home")
    instance: int
    if args.instance is not None:
        instance = args.instance
    elif data.get("id") is not None and str(data.get("id")) == args.target != data.get("name"):
        instance = int((data.get("processes") or [{}])[0].get("instance") or 0)  # by its id
    else:
        instance = 0
    variables = environment(data, instance=instance, home=None if home is None else str(home))
    if variables is None:
        have = [str(row.get("instance")) for row in data.get("processes") or []]
        raise PtmError(
            f"{data.get('name')} has no instance {instance}"
            f" (its instances: {', '.join(have) or 'none'})"
        )
    for name, value in sorted(mask_env(variables).items()):
        print(f"{name}={value}")
    return 0


def unstartup(
    args: argparse.Namespace, *, run: Runner | None = None, folder: Path | None = None
) -> int:
    """Remove the unit ``ptm startup --install`` wrote (never one it did not write)."""
    import subprocess

    from supervisor_core.cli._startup import UNIT_FOLDER, remove_unit, unit_path

    path = unit_path(args.service_name, folder=folder if folder is not None else UNIT_FOLDER)
    remove_unit(path=path, run=run if run is not None else subprocess.run)
    say(f"disabled {path.name} and removed {path}; the daemon no longer starts at boot")
    say(f"a daemon systemd runs now keeps running; stop it with: systemctl stop {path.name}")
    return 0
