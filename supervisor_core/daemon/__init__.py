"""The ptm daemon: the supervisor, its state and the status socket, in one process."""

from supervisor_core.daemon._main import main, serve

__all__ = ["main", "serve"]
