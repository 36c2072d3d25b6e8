"""The web pages: ``/login``, ``/admin`` (the dashboard), ``/kline``, ``/settings``, ``/prefs``
and the 404 page.

The pages are rendered on the server in the request's language and colour convention (see
:mod:`point_tron.i18n`) from the templates in ``templates/``: ``{{ page.x }}`` is a catalogue
text (HTML-escaped), ``{{ name }}`` a value of the page (escaped), ``{{ name|raw }}`` a value
inserted as it is, ``{{> _file.html }}`` another template. They carry no inline script or
style (the CSP forbids both): the words the scripts need travel in a JSON data block. Their
scripts in ``/static`` fetch the API with the token kept in ``localStorage``; access control is
the API's, so a page without a valid token sends the browser back to ``/login``.

``GET /prefs?lang=zh-CN|en&colors=red-up|green-up&next=/path`` remembers the choices in the
``lang`` and ``colors`` cookies (a year) and sends the browser back to ``next``.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from point_tron.catalogue import MESSAGES
from point_tron.i18n import (
    COLOR_CONVENTIONS,
    COLORS_COOKIE,
    LANG_COOKIE,
    LANGUAGES,
    colors_for,
    language_for,
    script_messages,
    translate,
    translate_html,
)

__all__ = ["PAGES", "TEMPLATES_DIR", "not_found_page", "render", "routes"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
PAGES = ("login", "admin", "kline", "settings")
_COOKIE_AGE = 365 * 86_400
POINTS_SHOWN = 600  # blocks on the dashboard's score chart (the newest of the last 24 h)
_PLACEHOLDER = re.compile(r"\{\{\s*([>]?)\s*([\w.\-]+)(\|raw)?\s*\}\}")


@cache
def _template(name: str) -> str:
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


def render(name: str, language: str, values: dict[str, str]) -> str:
    """The template ``name`` in ``language``; KeyError names a placeholder with no value."""

    def one(match: re.Match[str]) -> str:
        include, key, raw = match.group(1), match.group(2), match.group(3)
        if include:
            return _PLACEHOLDER.sub(one, _template(key))
        if key in MESSAGES:
            return translate_html(language, key, values)
        if key not in values:
            raise KeyError(f"{name}: no value for {{{{ {key} }}}}")
        return values[key] if raw else html.escape(values[key])

    return _PLACEHOLDER.sub(one, _template(name))


def _script_json(data: Any) -> str:
    # inside <script type="application/json">: "</" would end the element
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def page_values(conn: HTTPConnection, page: str) -> tuple[str, dict[str, str]]:
    """The request's language and what every template needs to be rendered for it."""
    headers = conn.scope.get("headers", [])
    language = language_for(headers)
    colors = colors_for(headers, language)
    here = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    values = {
        "lang": language,
        "colors": colors,
        "page": page,
        "here": quote(here, safe="/"),
        "messages": _script_json(script_messages(language)),
        "zh_current": "true" if language == "zh-CN" else "false",
        "en_current": "true" if language == "en" else "false",
        "red_up_selected": "selected" if colors == "red-up" else "",
        "green_up_selected": "selected" if colors == "green-up" else "",
        "nav_admin": "active" if page == "admin" else "",
        "nav_kline": "active" if page == "kline" else "",
        "nav_settings": "active" if page == "settings" else "",
        "ws_class": "hidden" if page == "settings" else "badge off",  # no live data there
        "red_up_current": "true" if colors == "red-up" else "false",
        "green_up_current": "true" if colors == "green-up" else "false",
    }
    return language, values


def _html(text: str, status_code: int = 200) -> HTMLResponse:
    # the same URL reads differently by language and colour convention: never cache it
    headers = {"cache-control": "no-store", "vary": "Accept-Language, Cookie"}
    return HTMLResponse(text, status_code=status_code, headers=headers)


def _page(page: str) -> Route:
    async def endpoint(request: Request) -> Response:
        language, values = page_values(request, page)
        values["stats_tz"] = request.app.state.pt.settings.stats_tz.key  # "today" starts there
        values["points_shown"] = str(POINTS_SHOWN)
        return _html(render(f"{page}.html", language, values))

    return Route(f"/{page}", endpoint, methods=["GET"], name=f"page_{page}")


def not_found_page(conn: HTTPConnection) -> HTMLResponse:
    """The HTML 404 for a path that is no page, in the request's language."""
    language, values = page_values(conn, "404")
    values["path"] = conn.url.path
    return _html(render("404.html", language, values), 404)


def _local(path: str | None) -> str:
    """``path`` if it is a path on this site, else ``/admin`` (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/admin"
    return path


async def prefs(request: Request) -> Response:
    language = language_for(request.scope["headers"])
    chosen_lang = request.query_params.get("lang")
    chosen_colors = request.query_params.get("colors")
    for name, value, allowed in (
        ("lang", chosen_lang, LANGUAGES),
        ("colors", chosen_colors, COLOR_CONVENTIONS),
    ):
        if value is not None and value not in allowed:
            choices = ", ".join(allowed)
            said = translate(
                language, "error.bad_choice", name=name, choices=choices, value=repr(value)
            )
            return PlainTextResponse(said, status_code=400)
    response = RedirectResponse(_local(request.query_params.get("next")), status_code=303)
    for cookie, value in ((LANG_COOKIE, chosen_lang), (COLORS_COOKIE, chosen_colors)):
        if value is not None:
            response.set_cookie(cookie, value, max_age=_COOKIE_AGE, path="/", samesite="lax")
    return response


async def root(request: Request) -> Response:
    return RedirectResponse("/login", status_code=302)


async def admin_blocks(request: Request) -> Response:
    return RedirectResponse("/admin#blocks", status_code=302)


async def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes: list[BaseRoute] = [
    Route("/", root, methods=["GET"]),
    *(_page(page) for page in PAGES),
    Route("/prefs", prefs, methods=["GET"]),
    Route("/admin/blocks", admin_blocks, methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
]
