"""The log pipeline: pipe bytes → whole lines → timestamped, rotating files; and tail reading.

See docs/logs.md for what users see.
"""

from supervisor_core.logs._lines import CONTINUATION_MARKER, DEFAULT_MAX_LINE, LineSplitter
from supervisor_core.logs._pump import pump_lines
from supervisor_core.logs._sink import (
    InstanceLogSink,
    LogFiles,
    instance_log_paths,
    instance_marker,
    split_marker,
)
from supervisor_core.logs._tail import tail_lines
from supervisor_core.logs._writer import RotatingWriter, rotated_files

__all__ = [
    "CONTINUATION_MARKER",
    "DEFAULT_MAX_LINE",
    "InstanceLogSink",
    "LineSplitter",
    "LogFiles",
    "RotatingWriter",
    "instance_log_paths",
    "instance_marker",
    "pump_lines",
    "rotated_files",
    "split_marker",
    "tail_lines",
]
