"""The public API: a sorted, complete ``__all__``, and the embedding example runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import supervisor_core
import supervisor_core.errors

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_and_importable() -> None:
    names = supervisor_core.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(supervisor_core, name), name


def test_every_public_error_is_exported_and_derives_from_ptm_error() -> None:
    for name in supervisor_core.errors.__all__:
        cls = getattr(supervisor_core.errors, name)
        assert issubclass(cls, supervisor_core.PtmError)
        assert name in supervisor_core.__all__


def test_embedding_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed.py")],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"worker:1 online" in done.stdout
    assert b"restarts=1 last_reason=crash" in done.stdout
    assert b"after restart: [(0, 1), (1, 2)]" in done.stdout


def test_every_lazy_name_is_in_all() -> None:
    assert set(supervisor_core._WHERE) | {"__version__"} == set(supervisor_core.__all__)


def test_importing_the_package_and_cli_stays_light() -> None:
    """`ptm list` must start fast: the package and the CLI entry import no heavy module."""
    code = (
        "import sys, supervisor_core, supervisor_core.cli; "
        "heavy = {'anyio', 'psutil', 'httpx', 'starlette', 'uvicorn', 'aiosqlite'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
