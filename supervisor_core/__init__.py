"""ptm's engine: supervise processes from an ecosystem file, in a daemon or embedded.

The public API (everything else is private and may change)::

    from supervisor_core import Supervisor, build_app, load_ecosystem

    async with Supervisor() as sup:
        await sup.add(build_app({"name": "worker", "script": "worker.py"}))
        print(sup.processes())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supervisor_core import errors  # imports nothing; its __all__ names the public errors
from supervisor_core._lazy import import_on_first_use
from supervisor_core._version import __version__

if TYPE_CHECKING:  # the names below are imported on first use, so `ptm` starts fast
    from supervisor_core._info import ProcessInfo, RestartReason, RunRecord, StateEvent
    from supervisor_core._supervisor import Supervisor
    from supervisor_core.client import Client, ensure_daemon
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
    from supervisor_core.errors import *  # noqa: F403 (the names of errors.__all__)

_CONFIG_NAMES = (  # one string, not a list that would repeat config's __all__ line by line
    "AppSpec Ecosystem HealthCheckSpec ListenSpec LogSpec MemoryPolicy NotifySpec"
    " ReadinessSpec RestartPolicy StopPolicy WatchSpec build_app load_ecosystem parse_ecosystem"
)
# Where each lazy name lives; __all__ below lists them for readers and type checkers, and
# tests/test_public_api.py checks that the two agree.
_WHERE = {
    **dict.fromkeys(["ProcessInfo", "RestartReason", "RunRecord", "StateEvent"], "_info"),
    "Supervisor": "_supervisor",
    **dict.fromkeys(["Client", "ensure_daemon"], "client"),
    **dict.fromkeys(_CONFIG_NAMES.split(), "config"),
    **dict.fromkeys(errors.__all__, "errors"),
}


def __getattr__(name: str) -> Any:
    return import_on_first_use(__name__, _WHERE, globals(), name)


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AppSpec",
    "Client",
    "Ecosystem",
    "HealthCheckSpec",
    "ListenSpec",
    "LogSpec",
    "MemoryPolicy",
    "NotifySpec",
    "ProcessInfo",
    "ReadinessSpec",
    "RestartPolicy",
    "RestartReason",
    "RunRecord",
    "StateEvent",
    "StopPolicy",
    "Supervisor",
    "WatchSpec",
    "__version__",
    "build_app",
    "ensure_daemon",
    "load_ecosystem",
    "parse_ecosystem",
]
__all__ += errors.__all__
__all__.sort()
