"""The daemon's figures in Prometheus' text format (``GET /v1/metrics``, ``ptm metrics``).

Names and labels follow Prometheus' conventions: ``ptm_`` first, base units (seconds,
bytes), ``_total`` on counters. Each process is labelled ``app``, ``instance`` and ``id``
(its process id, as ``ptm list`` shows it). Built at each scrape from what the daemon
already knows (and the cpu time psutil reads for each process tree); ``prometheus_client``
is imported on the first scrape only, so a daemon nobody scrapes does not carry it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psutil

from supervisor_core.process import Status, descendant_pids

__all__ = ["CONTENT_TYPE", "metrics_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LABELS = ("app", "instance", "id")


def _cpu_seconds(pid: int) -> float | None:
    """user + system seconds of ``pid`` and its descendants (None when it is gone)."""
    total = 0.0
    for member in [pid, *descendant_pids(pid)]:
        with contextlib.suppress(psutil.Error, OSError):
            times = psutil.Process(member).cpu_times()
            total += times.user + times.system
    return total if total or psutil.pid_exists(pid) else None


def metrics_text(rows: Sequence[Mapping[str, Any]], daemon: Mapping[str, float]) -> bytes:
    """The exposition of ``rows`` (``jlist`` rows with ``restarts_by_reason``) and the
    daemon-wide figures ``daemon`` (``apps``, ``log_bytes_written``, ...)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class _Facts(Collector):
        def collect(self) -> Iterator[Any]:
            up = GaugeMetricFamily("ptm_process_up", "1 when the process is online", labels=_LABELS)
            status = GaugeMetricFamily(
                "ptm_process_status",
                "1 for the status the process is in",
                labels=(*_LABELS, "status"),
            )
            memory = GaugeMetricFamily(
                "ptm_process_resident_memory_bytes",
                "Resident memory of the process and its descendants",
                labels=_LABELS,
            )
            cpu = CounterMetricFamily(
                "ptm_process_cpu_seconds",
                "User and system CPU time of the process and its descendants",
                labels=_LABELS,
            )
            uptime = GaugeMetricFamily(
                "ptm_process_uptime_seconds", "Seconds since the process started", labels=_LABELS
            )
            restarts = CounterMetricFamily(
                "ptm_process_restarts",
                "Restarts of the instance, by reason",
                labels=(*_LABELS, "reason"),
            )
            for row in rows:
                labels = [str(row["name"]), str(row["instance"]), str(row["id"])]
                up.add_metric(labels, 1.0 if row["status"] == Status.ONLINE else 0.0)
                for word in Status:
                    status.add_metric([*labels, word.value], 1.0 if row["status"] == word else 0.0)
                if row.get("memory_bytes") is not None:
                    memory.add_metric(labels, float(row["memory_bytes"]))
                if row.get("pid") is not None:
                    seconds = _cpu_seconds(int(row["pid"]))
                    if seconds is not None:
                        cpu.add_metric(labels, seconds)
                if row.get("uptime_s") is not None:
                    uptime.add_metric(labels, float(row["uptime_s"]))
                for reason, count in (row.get("restarts_by_reason") or {}).items():
                    restarts.add_metric([*labels, reason], float(count))
            yield from (up, status, memory, cpu, uptime, restarts)
            yield GaugeMetricFamily("ptm_apps", "Apps the daemon manages", value=daemon["apps"])
            yield GaugeMetricFamily(
                "ptm_processes", "Instances the daemon manages", value=len(rows)
            )
            yield CounterMetricFamily(
                "ptm_log_bytes_written",
                "Bytes written to the apps' log files",
                value=daemon["log_bytes_written"],
            )
            yield CounterMetricFamily(
                "ptm_log_lines_dropped",
                "Log lines that could not be written (disk full, a refused link, ...)",
                value=daemon["log_lines_dropped"],
            )
            yield CounterMetricFamily(
                "ptm_log_follower_lines_skipped",
                "Lines that slow ptm logs followers skipped (the files have them)",
                value=daemon["follower_lines_skipped"],
            )

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Facts())
    return generate_latest(registry)
