"""The rule behind ``ptm scale``'s warning: fork-mode instances that bind one fixed port."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from supervisor_core.config import build_app, fixed_port, port_clash


def app(**entry: Any) -> Any:
    return build_app({"name": "web", "script": sys.executable, **entry})


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"env": {"PORT": "3000"}}, "PORT=3000"),
        ({"env": {"PORT": " 8080 "}}, "PORT=8080"),
        ({"args": ["--port", "8090"]}, "--port 8090"),
        ({"args": ["--host", "0.0.0.0", "--port=8090"]}, "--port 8090"),
        ({"env": {"PORT": "0"}}, None),  # any free port: no clash
        ({"args": ["--port", "0"]}, None),
        ({"env": {"PORT": "${PORT}"}}, None),  # not a number ptm can tell
        ({}, None),
        ({"args": ["--port"]}, None),
        (
            {
                "exec_mode": "cluster",
                "env": {"PORT": "3000"},
                "listen": {"port": 3000},
            },
            None,  # ptm binds the port once and shares it
        ),
    ],
)
def test_what_fixes_a_fork_mode_port(entry: dict[str, Any], where: str | None) -> None:
    assert fixed_port(app(**entry)) == where


def test_the_warning_names_the_clash_and_suggests_cluster_mode() -> None:
    spec = app(env={"PORT": "3000"})
    assert port_clash(spec, 1) is None
    assert port_clash(spec, 0) is None
    assert port_clash(spec, 3) == (
        "web runs in fork mode with PORT=3000: its 3 instances all bind that port, and all but"
        " the first fail with 'address already in use'; use exec_mode = \"cluster\" with"
        " [apps.listen] to share one port"
    )
    assert port_clash(app(), 3) is None
