"""The daemon's own settings: ``$PTM_HOME/daemon.toml``, read once when the daemon starts.

::

    [daemon]
    metrics_address = "127.0.0.1:9209"          # serve GET /metrics on TCP too
    metrics_token_file = "/etc/ptm/metrics.token"  # required unless the address is loopback

Only the ``[daemon]`` table is read. A missing file means the defaults (no TCP listener). A
mistake raises a ``ConfigError`` naming the file, the key and the value, and the daemon does
not start.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor_core.errors import ConfigError

__all__ = ["DaemonConfig", "read_daemon_config"]

_KEYS = frozenset({"metrics_address", "metrics_token_file"})


@dataclass(frozen=True)
class DaemonConfig:
    """``metrics_address`` (host, port) or None; ``metrics_token`` the bearer token or None."""

    metrics_address: tuple[str, int] | None = None
    metrics_token: str | None = None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(path: Path, value: object) -> tuple[str, int]:
    where = f"{path}: [daemon] metrics_address = {json.dumps(value, default=str)}"
    if not isinstance(value, str):
        raise ConfigError(f'{where}: expected a string such as "127.0.0.1:9209"')
    host, sep, port_text = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5  # not '²'
    if not sep or not host or not digits or not 0 < int(port_text) < 65536:
        raise ConfigError(f'{where}: expected HOST:PORT such as "127.0.0.1:9209"')
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"{where}: the host must be an IP address or localhost") from None
    return host, int(port_text)


def _token(path: Path, value: object) -> str:
    where = f"{path}: [daemon] metrics_token_file = {json.dumps(value, default=str)}"
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected the path of a file holding the token")
    token_path = path.parent / os.path.expanduser(value)
    try:
        info = os.stat(token_path)
        text = token_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{where}: cannot read it: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{where}: group or others may read it (chmod 600 it)")
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"{where}: the token must be one word, not empty")
    return text


def read_daemon_config(path: Path) -> DaemonConfig:
    """The settings in ``path`` (defaults when it does not exist)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return DaemonConfig()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key != "daemon":
            raise ConfigError(f"{path}: unknown table or key {key!r} (only [daemon] is read)")
    table = data.get("daemon", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: daemon must be a table ([daemon])")
    for key in table:
        if key not in _KEYS:
            raise ConfigError(
                f"{path}: unknown key [daemon] {key} (known: {', '.join(sorted(_KEYS))})"
            )
    address = None
    if "metrics_address" in table:
        address = _address(path, table["metrics_address"])
    token = None
    if "metrics_token_file" in table:
        token = _token(path, table["metrics_token_file"])
    if address is not None and token is None and not _is_loopback(address[0]):
        raise ConfigError(
            f"{path}: [daemon] metrics_address = {json.dumps(table['metrics_address'])} is not a "
            "loopback "
            "address: set metrics_token_file too (scrapes then need that bearer token)"
        )
    return DaemonConfig(metrics_address=address, metrics_token=token)
