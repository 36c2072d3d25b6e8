"""The value types of ``ptm``'s arguments: each reads one word or says, in one line, why not."""

from __future__ import annotations

import argparse

__all__ = ["instance_index", "instances", "line_count"]


def instances(text: str) -> str:
    """``N``, the new number of instances, or PM2's ``+N`` / ``-N``: add or remove N (the
    daemon counts from the instances the app has then). Given back as written."""
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number, +N or -N: {text!r}") from None
    if text[:1] in ("+", "-"):
        if value == 0 or abs(value) > 1024:
            raise argparse.ArgumentTypeError(f"+N or -N adds or removes 1 to 1024: {text!r}")
        return text
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (ptm stop stops an app): {text!r}")
    from supervisor_core.config import instance_count

    try:
        return str(instance_count(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {text!r}") from None


def line_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (only new lines) or more: {text!r}")
    return value


def instance_index(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # not '²', not 5000 digits
        raise argparse.ArgumentTypeError(f"must be an instance number (0, 1, ...): {text!r}")
    return int(text)
