"""Names a package imports on first use, through its module ``__getattr__`` (PEP 562), so
that importing the package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["import_on_first_use"]


def import_on_first_use(
    package: str, where: Mapping[str, str], namespace: MutableMapping[str, Any], name: str
) -> Any:
    """``name`` from the submodule ``where[name]`` of ``package``, kept in ``namespace`` (the
    package's ``globals()``) so that the next lookup finds it there. AttributeError for a
    name ``where`` does not hold."""
    module = where.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{package}.{module}"), name)
    namespace[name] = value
    return value
