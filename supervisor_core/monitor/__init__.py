"""cpu and memory of whole process trees, sampled by one periodic task, and their history."""

from supervisor_core.monitor._history import (
    MINUTES_KEPT,
    SECONDS_KEPT,
    History,
    HistoryKey,
    MinutePoint,
    Resolution,
    Series,
    history_key,
)
from supervisor_core.monitor._sampler import Monitor, TreeSample, TreeSampler

__all__ = [
    "MINUTES_KEPT",
    "SECONDS_KEPT",
    "History",
    "HistoryKey",
    "MinutePoint",
    "Monitor",
    "Resolution",
    "Series",
    "TreeSample",
    "TreeSampler",
    "history_key",
]
