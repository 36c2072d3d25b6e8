"""The ecosystem file beyond one machine: the same compiled specs as systemd units.

``ptm export systemd FILE`` reads the file with the same compiler as ``ptm start`` (so it
refuses what ``ptm start`` refuses, in the same words) and maps every setting systemd can
enforce; what it cannot is listed, never silently dropped. See docs/deploy.md.
"""

from supervisor_core.export._systemd import (
    UnitFile,
    Units,
    oncalendar,
    systemd_size,
    systemd_units,
)
from supervisor_core.export._unitfile import environment_line, exec_line, exec_program, one_line

__all__ = [
    "UnitFile",
    "Units",
    "environment_line",
    "exec_line",
    "exec_program",
    "oncalendar",
    "one_line",
    "systemd_size",
    "systemd_units",
]
