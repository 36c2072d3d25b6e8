"""The ``ptm`` command line."""

from __future__ import annotations

from supervisor_core.cli._main import main

__all__ = ["main"]
