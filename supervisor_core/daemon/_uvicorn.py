"""uvicorn, imported without the file watcher that only its ``--reload`` uses.

uvicorn's package imports ``watchfiles`` whenever it is installed (ptm installs it for the
``watch`` key), which costs the daemon about 3 MB it never needs: hide it while uvicorn loads
(uvicorn then picks its stat-based reloader, unused here), and let later imports find it.
"""

from __future__ import annotations

import sys

_had = "watchfiles" in sys.modules
if not _had:
    sys.modules["watchfiles"] = None  # type: ignore[assignment]
try:
    import uvicorn
finally:
    if not _had:
        del sys.modules["watchfiles"]

__all__ = ["uvicorn"]
