"""The calls that httpx carries: those that send a body or wait long, and the streams.

:class:`Channel` is made by :class:`~supervisor_core.client.Client` on its first such call
(``ptm jlist`` never makes one, and so never imports httpx). Every httpx exception is mapped
by ``_failures.py``, as the standard library's GET maps its own.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from supervisor_core._httpx import httpx
from supervisor_core.client._failures import (
    api_error,
    connect_failure,
    lost_connection,
    timed_out,
)
from supervisor_core.client._light import Answer
from supervisor_core.client._socket import check_socket
from supervisor_core.errors import ClientError

__all__ = ["Channel"]


class Channel:
    """An httpx client on the socket of ``home``; ``timeout`` as for the ``Client``."""

    def __init__(self, home: Path, socket: Path, timeout: float) -> None:
        self.home = home
        self.socket = socket
        self.timeout = timeout
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket), verify=False),
            base_url="http://ptm",
            timeout=timeout,
            trust_env=False,
        )
        self._connected = False

    def close(self) -> None:
        self._http.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        wait: bool = False,
    ) -> Answer:
        """One call; with ``wait`` no read timeout (the daemon works as long as it must)."""
        what = f"{method} {path}"
        timeout = httpx.Timeout(self.timeout, read=None) if wait else self.timeout
        # json.dumps escapes every non-ASCII character: a string holding bytes that are not
        # UTF-8 (os.environ decodes them to U+DC80..U+DCFF) travels as "\udce9" and comes back
        # as the same bytes; httpx's json= would fail to encode it.
        content = None if body is None else json.dumps(body).encode("ascii")
        headers = None if body is None else {"Content-Type": "application/json"}
        request = self._http.build_request(
            method, path, content=content, headers=headers, params=params, timeout=timeout
        )
        self._check()
        with self._translated(what):
            response = self._http.send(request)
        return Answer(response.status_code, response.content)

    def stream(self, path: str, params: dict[str, str]) -> Iterator[Any]:
        """``GET path`` answered by one JSON object per line; the objects as they come. An
        error answer raises here, before the first item."""
        what = f"GET {path}"
        request = self._http.build_request(
            "GET", path, params=params, timeout=httpx.Timeout(self.timeout, read=None)
        )
        self._check()
        with self._translated(what):
            response = self._http.send(request, stream=True)
        if response.status_code >= 400:
            with self._translated(what), contextlib.closing(response):
                response.read()
            raise api_error(response.status_code, response.content, what)
        return self._lines(response, what)

    def _check(self) -> None:
        if not self._connected:
            check_socket(self.socket, self.timeout)
            self._connected = True

    def _lines(self, response: httpx.Response, what: str) -> Iterator[Any]:
        with contextlib.closing(response), self._translated(what):
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    raise ClientError(f"the daemon sent a non-JSON line on {what}") from None
                if isinstance(item, dict):
                    yield item

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError as exc:
            self._connected = False
            raise connect_failure(self.socket, exc) from None
        except httpx.TimeoutException:
            raise timed_out(what, self.timeout, self.home) from None
        except httpx.HTTPError as exc:
            raise lost_connection(what, exc) from None
