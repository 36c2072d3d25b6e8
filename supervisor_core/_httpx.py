"""httpx, imported without its command line.

httpx's ``__init__`` tries ``from ._main import main`` (the ``httpx`` console script), which
imports click, pygments and rich whenever they are installed: about 11 ms and 2.4 MB that
``ptm jlist`` and the daemon's health checks would pay for a command they never run. Hidden
while httpx loads, httpx falls back to its own stub ``main``; later imports of ``httpx._main``
find the real module again.
"""

from __future__ import annotations

import sys

_had = "httpx" in sys.modules or "httpx._main" in sys.modules
if not _had:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
try:
    import httpx
finally:
    if not _had:
        del sys.modules["httpx._main"]

__all__ = ["httpx"]
