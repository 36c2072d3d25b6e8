"""Shared fixtures: an asyncio anyio backend and a private PTM_HOME for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def ptm_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own PTM_HOME: never the user's ~/.ptm."""
    home = tmp_path_factory.mktemp("ptm-home")
    monkeypatch.setenv("PTM_HOME", str(home))
    yield home
