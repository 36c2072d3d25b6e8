"""The public surface of supervisor_core.logs stays curated."""

from __future__ import annotations

import supervisor_core.logs as logs


def test_all_is_sorted_and_every_name_exists() -> None:
    assert logs.__all__ == sorted(logs.__all__)
    for name in logs.__all__:
        assert hasattr(logs, name), name


def test_no_public_name_is_left_out_of_all() -> None:
    public = {
        name
        for name, value in vars(logs).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(logs.__name__)
    }
    public |= {name for name in vars(logs) if name.isupper() and not name.startswith("_")}
    assert public == set(logs.__all__)
