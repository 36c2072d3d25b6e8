"""uvicorn's server, imported without the command line the daemon never uses.

``import uvicorn`` runs the package's ``__init__``, which imports ``uvicorn.main``: click, the
``--reload`` supervisors (``watchfiles`` whenever it is installed, which ptm installs for the
``watch`` key) and ``multiprocessing``, about 2.5 MB and 12 ms of the daemon's start-up that
serve ``uvicorn --reload`` only. Here the package is entered without its ``__init__``: a
package module with uvicorn's own path, holding what that ``__init__`` exports
(``__version__``, ``Config``, ``Server``), with ``main`` and ``run`` loaded on first use.
The protocol and lifespan modules the daemon's ``Config`` names (``http="h11"``,
``lifespan="off"``) load on their own when the server starts.

Should a later uvicorn not load this way, the plain ``import uvicorn`` is used.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from typing import Any

__all__ = ["Config", "Server"]


_EXPORTS = (
    ("__version__", "uvicorn._version"),
    ("Config", "uvicorn.config"),
    ("Server", "uvicorn.server"),
)
"""What uvicorn's ``__init__`` exports besides its command line, and where it is."""


def _load_without_cli() -> None:
    if "uvicorn" in sys.modules:
        return
    found = importlib.util.find_spec("uvicorn")
    if found is None or found.submodule_search_locations is None:
        raise ImportError("uvicorn is not installed")
    spec = importlib.machinery.ModuleSpec("uvicorn", None, origin=found.origin, is_package=True)
    spec.submodule_search_locations = list(found.submodule_search_locations)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = spec.submodule_search_locations
    package.__file__ = found.origin

    def __getattr__(name: str) -> Any:
        if name in ("main", "run"):  # uvicorn's command line, on first use only
            return getattr(importlib.import_module("uvicorn.main"), name)
        raise AttributeError(f"module 'uvicorn' has no attribute {name!r}")

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["uvicorn"] = package
    try:
        for name, module in _EXPORTS:
            setattr(package, name, getattr(importlib.import_module(module), name))
    except Exception:
        for name in [name for name in sys.modules if name.partition(".")[0] == "uvicorn"]:
            del sys.modules[name]
        raise


try:
    _load_without_cli()
except Exception:  # a uvicorn laid out otherwise: the whole package, as usual
    import uvicorn  # noqa: F401

from uvicorn.config import Config  # noqa: E402 (after the package is entered above)
from uvicorn.server import Server  # noqa: E402
