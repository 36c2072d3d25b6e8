"""What every export reads the same way from a compiled spec: the command as an image would
run it, the environment split into plain values and secrets, the health check's parts."""

from __future__ import annotations

import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from supervisor_core._secrets import is_secret_name
from supervisor_core.config import AppSpec

__all__ = ["HealthProbe", "health_probe", "portable_argv", "seconds", "split_env"]


def portable_argv(spec: AppSpec) -> list[str]:
    """The command line with host-specific paths made portable for a container image: the
    Python running ptm is ``python``, a program found on ``PATH`` is its name, and a file
    inside the app's ``cwd`` is relative to it (the image's working directory)."""
    out: list[str] = []
    for position, arg in enumerate(spec.argv):
        path = Path(arg)
        if not path.is_absolute():
            out.append(arg)
        elif arg == sys.executable:
            out.append("python")
        elif position == 0 and shutil.which(path.name) == arg:
            out.append(path.name)
        elif path.is_relative_to(spec.cwd):
            out.append(os.path.relpath(path, spec.cwd))
        else:
            out.append(arg)
    return out


def split_env(spec: AppSpec) -> tuple[dict[str, str], dict[str, str]]:
    """The app's variables (with ``PTM_APP_NAME``): (plain ones, secret-looking ones)."""
    env = {"PTM_APP_NAME": spec.name, **spec.env}
    plain = {k: v for k, v in env.items() if not is_secret_name(k)}
    secret = {k: v for k, v in env.items() if is_secret_name(k)}
    return plain, secret


@dataclass(frozen=True)
class HealthProbe:
    scheme: str
    port: int
    path: str
    period: int
    timeout: int
    failures: int


def health_probe(spec: AppSpec) -> HealthProbe | None:
    """The health check's URL split for a probe (None without one)."""
    check = spec.health_check
    if check is None:
        return None
    url = urlsplit(check.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    return HealthProbe(
        scheme=url.scheme.upper(),
        port=port,
        path=path,
        period=seconds(check.interval),
        timeout=seconds(check.timeout),
        failures=check.failures,
    )


def seconds(value: float) -> int:
    """Whole seconds, rounded up, at least 1 (what the targets accept)."""
    return max(1, math.ceil(value))
