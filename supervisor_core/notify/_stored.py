"""``[[notify]]`` entries as JSON, so that the daemon can keep them in ``state.db``.

The JSON is a list of objects with the keys of the ecosystem file (``events``, ``apps``,
``webhook``, ``command``); ``command`` is always the list form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from supervisor_core.config import NotifySpec
from supervisor_core.errors import ConfigError
from supervisor_core.notify._events import ALERT_KINDS

__all__ = ["specs_from_json", "specs_to_json"]


def specs_to_json(specs: Sequence[NotifySpec]) -> str:
    """``[]`` for no entries."""
    entries = [
        {
            "events": sorted(spec.events, key=ALERT_KINDS.index),
            "apps": sorted(spec.apps) if spec.apps is not None else None,
            "webhook": spec.webhook,
            "command": list(spec.command) if spec.command is not None else None,
        }
        for spec in specs
    ]
    return json.dumps(entries, separators=(",", ":"))


def _strings(value: object, key: str, where: str, source: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(
            "must be a list of strings",
            file=source,
            key=f"{where}.{key}",
            value=value,
            has_value=True,
        )
    return tuple(value)


def specs_from_json(text: str, *, source: str | None = None) -> tuple[NotifySpec, ...]:
    """The entries :func:`specs_to_json` wrote; anything else is a ConfigError naming
    ``source`` and the entry."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"stored notify entries are not JSON: {exc}", file=source) from None
    if not isinstance(data, list):
        raise ConfigError("stored notify entries must be a list", file=source)
    specs: list[NotifySpec] = []
    for index, entry in enumerate(data):
        where = f"stored notify[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(
                "must be an object", file=source, key=where, value=entry, has_value=True
            )
        events = _strings(entry.get("events"), "events", where, source) or ()
        unknown = [e for e in events if e not in ALERT_KINDS]
        if not events or unknown:
            raise ConfigError(
                f"must list some of {', '.join(ALERT_KINDS)}",
                file=source,
                key=f"{where}.events",
                value=entry.get("events"),
                has_value=True,
            )
        apps = _strings(entry.get("apps"), "apps", where, source)
        command = _strings(entry.get("command"), "command", where, source)
        webhook = entry.get("webhook")
        if webhook is not None and not isinstance(webhook, str):
            raise ConfigError(
                "must be a string",
                file=source,
                key=f"{where}.webhook",
                value=webhook,
                has_value=True,
            )
        if (webhook is None) == (not command):
            raise ConfigError("needs exactly one of webhook and command", file=source, key=where)
        specs.append(
            NotifySpec(
                events=frozenset(kind for kind in ALERT_KINDS if kind in events),
                apps=frozenset(apps) if apps is not None else None,
                webhook=webhook,
                command=command,
            )
        )
    return tuple(specs)
