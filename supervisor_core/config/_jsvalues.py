"""Values of a PM2 file as node turns them into text: ``JSON.stringify`` for objects, and
JavaScript's ``String()`` for numbers and booleans (what ``spawn`` does with an argument or an
environment value)."""

from __future__ import annotations

import json
import math

__all__ = ["js_number", "js_string", "json_text"]


def json_text(value: object) -> str:
    """``JSON.stringify`` of a value read from JSON: compact, non-ASCII as it is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def js_string(item: object) -> object:
    """An argument as node's spawn passes it: numbers and booleans as JavaScript writes them."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return js_number(item)
    return item  # a string, or what the compiler will refuse


def js_number(number: float) -> str:
    """``String(number)`` in JavaScript (ECMAScript's Number::toString): the shortest digits
    that read back as ``number`` (Python's ``repr`` finds the same), without an exponent from
    1e-6 to below 1e21: ``3.0`` -> ``"3"``, ``1e-7`` -> ``"1e-7"``, ``1e21`` -> ``"1e+21"``."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    from decimal import Decimal  # a float in a PM2 file only: 0.4 MB the daemon need not hold

    sign = "-" if number < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = int(exponent) + len(digits)  # the value is 0.DIGITS x 10**point
    if len(digits) <= point <= 21:
        text = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = f"0.{'0' * -point}{digits}"
    else:
        power = f"{'+' if point > 0 else '-'}{abs(point - 1)}"
        text = (f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else digits) + f"e{power}"
    return sign + text
