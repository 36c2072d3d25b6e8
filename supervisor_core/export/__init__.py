"""The ecosystem file beyond one machine: the same compiled specs as systemd units,
Kubernetes objects or a Compose file.

``ptm export systemd|kubernetes|compose FILE`` reads the file with the same compiler as
``ptm start`` (so it refuses what ``ptm start`` refuses, in the same words) and maps every
setting the target can enforce; what it cannot is listed, never silently dropped. See
docs/deploy.md.
"""

from supervisor_core.export._compose import compose_file
from supervisor_core.export._kubernetes import KUBECTL_IMAGE, kubernetes_objects
from supervisor_core.export._systemd import (
    UnitFile,
    Units,
    oncalendar,
    systemd_size,
    systemd_units,
)
from supervisor_core.export._unitfile import environment_line, exec_line, exec_program, one_line

__all__ = [
    "KUBECTL_IMAGE",
    "UnitFile",
    "Units",
    "compose_file",
    "environment_line",
    "exec_line",
    "exec_program",
    "kubernetes_objects",
    "oncalendar",
    "one_line",
    "systemd_size",
    "systemd_units",
]
