"""Point-Tron's own exceptions (it does not import supervisor_core).

PointTronError
├── SettingsError   a bad environment variable; str() is one line naming it and its value
└── RpcError        the TRON node could not give a usable answer (after the retries)
"""

from __future__ import annotations

__all__ = ["PointTronError", "RpcError", "SettingsError"]


class PointTronError(Exception):
    """Base of every error Point-Tron raises on purpose."""


class SettingsError(PointTronError):
    """A configuration value is missing or malformed."""

    def __init__(self, variable: str, value: object, problem: str) -> None:
        self.variable = variable
        self.value = value
        self.problem = problem
        super().__init__(f"{variable}={value!r}: {problem}")


class RpcError(PointTronError):
    """A TRON full-node call failed: HTTP status, an `Error` body, a timeout, a bad reply."""
