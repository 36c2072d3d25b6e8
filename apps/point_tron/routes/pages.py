"""The web pages: ``/login``, ``/admin`` (the dashboard) and ``/kline``.

They are static HTML (no inline script or style, so the CSP can forbid both); their scripts
in ``/static`` fetch the API with the token kept in ``localStorage``. Access control is the
API's: a page without a valid token sends the browser back to ``/login``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["TEMPLATES_DIR", "routes"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def _page(name: str) -> Route:
    path = TEMPLATES_DIR / name

    async def endpoint(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8")

    return Route(f"/{path.stem}", endpoint, methods=["GET"], name=f"page_{path.stem}")


async def root(request: Request) -> Response:
    return RedirectResponse("/login", status_code=302)


async def admin_blocks(request: Request) -> Response:
    return RedirectResponse("/admin#blocks", status_code=302)


async def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes: list[BaseRoute] = [
    Route("/", root, methods=["GET"]),
    _page("login.html"),
    _page("admin.html"),
    _page("kline.html"),
    Route("/admin/blocks", admin_blocks, methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
]
