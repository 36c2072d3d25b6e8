"""ptm's engine: supervise processes from an ecosystem file, in a daemon or embedded.

The public API (everything else is private and may change)::

    from supervisor_core import Supervisor, build_app, load_ecosystem

    async with Supervisor() as sup:
        await sup.add(build_app({"name": "worker", "script": "worker.py"}))
        print(sup.processes())
"""

from supervisor_core._info import ProcessInfo, RestartReason, RunRecord, StateEvent
from supervisor_core._supervisor import Supervisor
from supervisor_core._version import __version__
from supervisor_core.config import (
    AppSpec,
    Ecosystem,
    HealthCheckSpec,
    ListenSpec,
    LogSpec,
    MemoryPolicy,
    NotifySpec,
    ReadinessSpec,
    RestartPolicy,
    StopPolicy,
    WatchSpec,
    build_app,
    load_ecosystem,
    parse_ecosystem,
)
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
    "AppSpec",
    "ConfigError",
    "Ecosystem",
    "HealthCheckSpec",
    "ListenSpec",
    "LogError",
    "LogSpec",
    "MemoryPolicy",
    "NotifySpec",
    "ProcessError",
    "ProcessInfo",
    "PtmError",
    "ReadinessSpec",
    "RestartPolicy",
    "RestartReason",
    "RunRecord",
    "SpawnError",
    "StateError",
    "StateEvent",
    "StopPolicy",
    "Supervisor",
    "UnknownAppError",
    "WatchSpec",
    "__version__",
    "build_app",
    "load_ecosystem",
    "parse_ecosystem",
]
