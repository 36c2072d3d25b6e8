"""Talk to the ptm daemon over its status socket (docs/api.md).

::

    from supervisor_core.client import Client

    with Client() as ptm:          # starts the daemon on first use
        ptm.start_ecosystem("ecosystem.toml")
        print([row["status"] for row in ptm.processes()])
"""

from __future__ import annotations

from supervisor_core.client._client import Client, Json, Stream
from supervisor_core.client._spawn import ensure_daemon

__all__ = ["Client", "Json", "Stream", "ensure_daemon"]
