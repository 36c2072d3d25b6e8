"""Which environment variables hold secrets: one rule for ``describe`` and the exports."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SECRET_NAME", "is_secret_name"]

SECRET_NAME: Final = re.compile(r"pass|secret|token|key|pwd", re.IGNORECASE)
"""A variable whose name matches holds a secret: masked by ``ptm describe``, kept out of
exported unit files (written to a 0600 environment file or a Kubernetes Secret instead)."""


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None
