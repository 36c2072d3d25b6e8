"""Faults the simulator injects into /wallet/* answers, set by CLI flags or POST /sim/faults."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

__all__ = ["FaultKind", "Faults"]

FaultKind = Literal["drop", "http_error", "error_body"]
_RATES = ("http_error_rate", "error_body_rate", "drop_rate")
_COUNTS = ("latency_ms", "http_error_next", "error_body_next", "drop_next")


@dataclass
class Faults:
    """What goes wrong, and how often. A `*_next` count beats its rate and counts down.

    Per request, in this order: wait `latency_ms`; drop the connection (no response);
    answer HTTP `http_error_status`; answer 200 with `{"Error": error_message}`.
    """

    latency_ms: int = 0
    http_error_rate: float = 0.0
    http_error_next: int = 0
    http_error_status: int = 503
    error_body_rate: float = 0.0
    error_body_next: int = 0
    error_message: str = "class org.tron.core.exception.BadItemException : tron-sim fault"
    drop_rate: float = 0.0
    drop_next: int = 0

    def draw(self, rng: random.Random) -> FaultKind | None:
        """The fault for the next request, if any (consumes one `*_next`)."""
        if self.drop_next > 0:
            self.drop_next -= 1
            return "drop"
        if self.drop_rate and rng.random() < self.drop_rate:
            return "drop"
        if self.http_error_next > 0:
            self.http_error_next -= 1
            return "http_error"
        if self.http_error_rate and rng.random() < self.http_error_rate:
            return "http_error"
        if self.error_body_next > 0:
            self.error_body_next -= 1
            return "error_body"
        if self.error_body_rate and rng.random() < self.error_body_rate:
            return "error_body"
        return None

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a JSON object of changes (validated first: all or nothing). Raises ValueError."""
        known = {f.name for f in fields(self)}
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r} (known: {', '.join(sorted(known))})")
            checked[key] = _check(key, value)
        for key, value in checked.items():
            setattr(self, key, value)

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(Faults, f.name))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(key: str, value: Any) -> Any:
    if key in _RATES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{key} must be a number from 0 to 1, not {value!r}")
        return float(value)
    if key in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} must be a whole number >= 0, not {value!r}")
        return value
    if key == "http_error_status":
        if isinstance(value, bool) or not isinstance(value, int) or not 500 <= value <= 599:
            raise ValueError(f"http_error_status must be 500..599, not {value!r}")
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string, not {value!r}")
    return value
