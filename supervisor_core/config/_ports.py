"""Whether more instances of an app would fight over one port: the rule behind the warning
of ``ptm scale``.

A fork-mode app binds its own port. ptm can tell that port is fixed when the app's
environment sets ``PORT`` to a number other than 0, or its arguments say ``--port N`` or
``--port=N`` (N not 0). Two such instances bind the same port, and all but the first fail
with "address already in use". Cluster mode has no such clash: ptm binds ``[apps.listen]``
once and every instance shares it.
"""

from __future__ import annotations

from collections.abc import Sequence

from supervisor_core.config._specs import AppSpec

__all__ = ["fixed_port", "port_clash"]


def _port(value: str) -> str | None:
    text = value.strip()
    # ASCII digits only: int() refuses '²' (str.isdigit does not), and 5000 digits
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        return None
    return text if int(text) != 0 else None


def _port_arg(args: Sequence[str]) -> str | None:
    for index, arg in enumerate(args):
        if arg == "--port" and index + 1 < len(args):
            port = _port(args[index + 1])
        elif arg.startswith("--port="):
            port = _port(arg.removeprefix("--port="))
        else:
            continue
        if port is not None:
            return port
    return None


def fixed_port(spec: AppSpec) -> str | None:
    """What fixes a fork-mode app's port (``PORT=3000``, ``--port 3000``), or None."""
    if spec.exec_mode != "fork":
        return None
    port = _port(spec.env.get("PORT", ""))
    if port is not None:
        return f"PORT={port}"
    port = _port_arg(spec.args)
    return None if port is None else f"--port {port}"


def port_clash(spec: AppSpec, instances: int) -> str | None:
    """A one-line warning when ``instances`` instances of ``spec`` would bind one fixed port."""
    where = fixed_port(spec)
    if where is None or instances <= 1:
        return None
    return (
        f"{spec.name} runs in fork mode with {where}: its {instances} instances all bind that"
        " port, and all but the first fail with 'address already in use'; use"
        ' exec_mode = "cluster" with [apps.listen] to share one port'
    )
