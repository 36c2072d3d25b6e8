"""ptm's engine: supervise processes from an ecosystem file, in a daemon or embedded."""

from supervisor_core._info import ProcessInfo, RunRecord, StateEvent
from supervisor_core._supervisor import Supervisor
from supervisor_core._version import __version__
from supervisor_core.errors import (
    ConfigError,
    LogError,
    ProcessError,
    PtmError,
    SpawnError,
    StateError,
    UnknownAppError,
)

__all__ = [
    "ConfigError",
    "LogError",
    "ProcessError",
    "ProcessInfo",
    "PtmError",
    "RunRecord",
    "SpawnError",
    "StateError",
    "StateEvent",
    "Supervisor",
    "UnknownAppError",
    "__version__",
]
