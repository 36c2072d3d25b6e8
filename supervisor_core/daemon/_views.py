"""Facts into the status socket's JSON (``docs/api.md``): pure functions, no I/O, no state.

The service gathers the facts (a :class:`~supervisor_core._info.ProcessInfo`, a stored run, an
:class:`~supervisor_core.config.AppSpec`...) and these functions shape them: times become ISO
8601 UTC texts, durations are seconds in keys ending in ``_s``, sizes are bytes, paths are
strings, a signal is its name. Unknown values are ``null``.

:func:`spec_view` is the one JSON view of an ``AppSpec`` in ptm: ``ptm describe``'s ``spec``.
It shows every setting of the spec, with the ecosystem file's key names (plus ``_s`` for
seconds): ``ptm describe`` renders each key it knows under the file's name, in the file's units.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from supervisor_core._info import ProcessInfo, RunRecord
from supervisor_core.config import AppSpec

__all__ = ["daemon_info", "describe_view", "iso", "process_row", "run_row", "spec_view"]


def iso(timestamp: float | None) -> str | None:
    """POSIX seconds → ISO 8601 UTC (``2026-11-28T21:00:00Z``)."""
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def process_row(info: ProcessInfo, *, process_id: int | None, desired: str) -> dict[str, Any]:
    """One instance as a ``ptm jlist`` row; ``process_id`` is its own id (PM2's ``pm_id``),
    given as both ``id`` and ``pm_id``."""
    return {
        "id": process_id,
        "pm_id": process_id,
        "name": info.name,
        "instance": info.instance,
        "pid": info.pid,
        "status": info.status,
        "restarts": info.restarts,
        "unstable_restarts": info.unstable_restarts,
        "uptime_s": round(info.uptime, 3) if info.uptime is not None else None,
        "started_at": iso(info.started_at),
        "cpu_percent": info.cpu_percent,
        "memory_bytes": info.memory_bytes,
        "exit_code": info.exit_code,
        "exec_mode": info.exec_mode,
        "out_file": info.out_file,
        "error_file": info.error_file,
        "last_restart_reason": info.last_restart_reason,
        "desired": desired,
        "health": dict(info.health) if info.health is not None else None,
    }


def run_row(run: RunRecord) -> dict[str, Any]:
    """One run of describe's history."""
    return {
        "run_id": run.run_id,
        "instance": run.instance,
        "pid": run.pid,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "exit_code": run.exit_code,
        "signal": run.signal,
        "end_reason": run.end_reason,
        "error": run.error,
    }


def spec_view(spec: AppSpec) -> dict[str, Any]:
    """Every setting of ``spec``, JSON-safe: ``describe``'s ``spec``.

    Unset optional settings are ``null`` (``health_check``, ``listen``, ``cron_restart``...);
    ``watch`` is the list of watched paths (empty: watching is off).
    """
    restart = spec.restart
    logs = spec.logs
    check = spec.health_check
    listen = spec.listen
    return {
        "script": spec.script,
        "argv": list(spec.argv),
        "args": list(spec.args),
        "cwd": str(spec.cwd),
        "interpreter": spec.interpreter,
        "interpreter_args": list(spec.interpreter_args),
        "instances": spec.instances,
        "exec_mode": spec.exec_mode,
        "increment_var": spec.increment_var,
        "env_name": spec.env_name,
        "autostart": spec.autostart,
        "user": spec.user,
        "group": spec.group,
        "autorestart": restart.autorestart,
        "stop_exit_codes": sorted(restart.stop_exit_codes),
        "max_restarts": restart.max_restarts,
        "min_uptime_s": restart.min_uptime,
        "restart_delay_s": restart.restart_delay,
        "exp_backoff_restart_delay_s": restart.exp_backoff_restart_delay,
        "backoff_cap_s": restart.backoff_cap,
        "cron_restart": spec.cron_restart,
        "watch": [str(path) for path in spec.watch.paths],
        "ignore_watch": list(spec.watch.ignore),
        "kill_signal": spec.stop.kill_signal.name,
        "kill_timeout_s": spec.stop.kill_timeout,
        "max_memory_restart": spec.memory.max_memory_restart,
        "memory_check_interval_s": spec.memory.memory_check_interval,
        "wait_ready": spec.readiness.wait_ready,
        "listen_timeout_s": spec.readiness.listen_timeout,
        "health_check": None
        if check is None
        else {
            "url": check.url,
            "interval_s": check.interval,
            "timeout_s": check.timeout,
            "failures": check.failures,
        },
        "listen": None if listen is None else {"host": listen.host, "port": listen.port},
        "out_file": str(logs.out_file) if logs else None,
        "error_file": str(logs.error_file) if logs else None,
        "merge_logs": logs.merge_logs if logs else None,
        "log_date_format": (
            logs.date_format.source if logs and logs.date_format is not None else None
        ),
        "log_file_max_size": logs.max_size if logs else None,
        "log_file_max_files": logs.max_files if logs else None,
        "log_compress": logs.compress if logs else None,
        "log_compress_delay": logs.compress_delay if logs else None,
        "log_rotate_interval": logs.rotate_interval if logs else None,
        "log_file_mode": f"{logs.file_mode:04o}" if logs else None,
    }


def describe_view(
    *,
    name: str,
    source: str | None,
    desired: str,
    processes: Sequence[dict[str, Any]],
    spec: AppSpec,
    runs: Iterable[RunRecord],
) -> dict[str, Any]:
    """``GET /v1/processes/{target}``: one app in full (or one of its processes, when
    ``processes`` has only that one); ``runs`` newest first. ``ids`` are the process ids of
    ``processes``; ``id`` is the one id when there is one process."""
    ids = [row.get("id") for row in processes]
    return {
        "name": name,
        "id": ids[0] if len(ids) == 1 else None,
        "ids": ids,
        "source": source,
        "desired": desired,
        "processes": list(processes),
        "spec": spec_view(spec),
        "env": dict(spec.env),
        "runs": [run_row(run) for run in runs],
    }


def daemon_info(
    *,
    pid: int,
    version: str,
    uptime: float,
    home: str,
    apps: int,
    processes: int,
    reexecuted_at: float | None = None,
) -> dict[str, Any]:
    """``GET /v1/info`` and ``GET /v1/daemon``."""
    return {
        "pid": pid,
        "version": version,
        "uptime_s": round(uptime, 3),
        "home": home,
        "apps": apps,
        "processes": processes,
        "reexecuted_at": reexecuted_at,
    }
