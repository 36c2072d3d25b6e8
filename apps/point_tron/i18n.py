"""Languages (zh-CN, en) and the up/down colour convention of a request.

A request's language is, in this order: the ``lang`` cookie (set by the pages' switch, see
``GET /prefs``), the best supported language of ``Accept-Language``, else
:data:`DEFAULT_LANGUAGE` (English: what a script or a monitor without the header has always
received). Any ``zh`` tag (``zh``, ``zh-CN``, ``zh-Hans``, ``zh-TW``) means ``zh-CN``; any
``en`` tag means ``en``.

The colour convention says which colour means "up" on every chart, card and legend:
``red-up`` (the Chinese market convention) or ``green-up``. The ``colors`` cookie holds the
choice; without one it follows the language: red-up in Chinese, green-up in English.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from string import Formatter
from typing import Any

from point_tron.catalogue import LANGUAGES, MESSAGES

__all__ = [
    "COLORS_COOKIE",
    "COLOR_CONVENTIONS",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANG_COOKIE",
    "colors_for",
    "cookies",
    "fields",
    "language_for",
    "language_tag",
    "pick_accept_language",
    "script_messages",
    "translate",
    "translate_html",
]

DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "lang"
COLORS_COOKIE = "colors"
COLOR_CONVENTIONS = ("red-up", "green-up")

Headers = Iterable[tuple[bytes, bytes]]


def language_tag(tag: str) -> str | None:
    """The supported language a language tag names (``zh-TW`` -> ``zh-CN``), or None."""
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def pick_accept_language(header: str | None) -> str | None:
    """The supported language an ``Accept-Language`` header prefers most, or None.

    Quality values count (``en;q=0.5, zh;q=0.9`` is Chinese); among equal ones the first
    listed wins; ``q=0`` excludes; ``*`` matches nothing in particular.
    """
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = language_tag(tag)
        if language is None or quality <= 0:
            continue
        key = (-quality, index, language)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def _header(headers: Headers, name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else None


def cookies(headers: Headers) -> dict[str, str]:
    """The request's cookies by name (the first of a name wins).

    Parsed by hand rather than with ``http.cookies``, which gives up on the rest of the
    header at the first value it dislikes (another app's cookie on the same host).
    """
    found: dict[str, str] = {}
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            key, sep, val = pair.strip().partition("=")
            if sep and key and key not in found:
                found[key] = val.strip().strip('"')
    return found


def language_for(headers: Headers) -> str:
    """The request's language: the ``lang`` cookie, else ``Accept-Language``, else English."""
    headers = list(headers)
    chosen = cookies(headers).get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return pick_accept_language(_header(headers, b"accept-language")) or DEFAULT_LANGUAGE


def colors_for(headers: Headers, language: str) -> str:
    """``red-up`` or ``green-up``: the ``colors`` cookie, else the language's convention."""
    chosen = cookies(headers).get(COLORS_COOKIE)
    if chosen in COLOR_CONVENTIONS:
        return chosen
    return "red-up" if language == "zh-CN" else "green-up"


def fields(text: str) -> set[str]:
    """The ``{name}`` fields of a catalogue text."""
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def translate(language: str, key: str, **params: Any) -> str:
    """The text of ``key`` in ``language`` with its fields filled; KeyError if unknown."""
    texts = MESSAGES[key]
    text = texts.get(language) or texts[DEFAULT_LANGUAGE]
    return text.format(**params) if params or fields(text) else text


def translate_html(language: str, key: str, params: Mapping[str, Any]) -> str:
    """:func:`translate`, HTML-escaped, taking only the fields the text uses from ``params``."""
    text = MESSAGES[key].get(language) or MESSAGES[key][DEFAULT_LANGUAGE]
    return html.escape(text.format(**{name: params[name] for name in fields(text)}))


def script_messages(language: str) -> dict[str, str]:
    """The ``js.*`` texts in ``language``, keyed without the prefix, for the pages' scripts."""
    return {
        key.removeprefix("js."): texts.get(language) or texts[DEFAULT_LANGUAGE]
        for key, texts in MESSAGES.items()
        if key.startswith("js.")
    }
