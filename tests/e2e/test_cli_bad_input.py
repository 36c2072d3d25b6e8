"""Bad input a demanding user can give: one line naming what is wrong, the right exit code,
never a traceback or a Python repr, and a daemon that keeps serving.

Each case here was found by trying it: before its fix it printed a traceback, an
``internal error: ...Error`` of the daemon, or left the daemon unable to answer.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Ptm

DEPTH = 100_000


def clean_line(text: str) -> str:
    """One ``ptm: ...`` line, with nothing of Python in it."""
    assert text.startswith("ptm"), text
    assert text.count("\n") == 1, text
    for python in ("Traceback", "internal error", "Error(", "Error:", "<class"):
        assert python not in text, text
    return text


# --------------------------------------------------------------------------- nesting


def _deep(suffix: str) -> str:
    if suffix == ".toml":
        return "apps = " + "[" * DEPTH + "]" * DEPTH + "\n"
    if suffix == ".json":
        return '{"apps": ' + "[" * DEPTH + "]" * DEPTH + "}\n"
    return "apps: " + "[" * DEPTH + "]" * DEPTH + "\n"


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
@pytest.mark.parametrize(
    "command", [["start"], ["run"], ["export", "systemd"], ["import", "-o", "-"]]
)
def test_a_file_nested_too_deeply_is_a_config_error(
    ptm: Ptm, suffix: str, command: list[str]
) -> None:
    if command[0] == "import" and suffix == ".toml":
        pytest.skip("import reads PM2 files only")
    name = f"deep{suffix}"
    ptm.write(name, _deep(suffix))
    done = ptm(*command, name)
    assert done.returncode == 2, done
    line = clean_line(done.stderr)
    assert name in line and "nests too deeply" in line, line
    if command == ["start"]:
        assert ptm.jlist() == []  # the daemon answers, and started nothing
