"""The daemon's socket API (docs/api.md) as a synchronous Python client.

Every failure leaves as a :class:`~supervisor_core.errors.ClientError`: no socket or nothing
listening is :class:`DaemonNotRunning`, a socket we may not open is
:class:`SocketPermissionDenied`, an error answer is :class:`ApiError` (its ``status``, its
``kind`` and the daemon's one-line message), and a timeout or a dropped connection is a
``ClientError`` saying what was being asked. No httpx exception gets out.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import quote

from supervisor_core._home import Home
from supervisor_core._httpx import httpx
from supervisor_core.client._socket import check_socket, connect_failure
from supervisor_core.client._spawn import ensure_daemon
from supervisor_core.errors import ApiError, ClientError, DaemonNotRunning

__all__ = ["Client", "Json", "Stream"]

Json = dict[str, Any]
"""One JSON object of the API (a process row, describe's answer, an event, ...)."""

Stream = Literal["out", "err", "both"]

_KILL_WAIT = 60.0


class _CallOptions(TypedDict, total=False):
    """The keywords of :meth:`Client._call`, which :meth:`Client._object` passes on."""

    body: Json | None
    params: dict[str, str] | None
    wait: bool
    autostart: bool


class Client:
    """A connection to the daemon of ``home`` (default ``$PTM_HOME``).

    ``timeout`` bounds connecting and every query; calls that start or stop processes wait as
    long as the daemon works (a stop lasts up to the app's ``kill_timeout``). With
    ``autostart`` a call that finds no daemon starts one (:func:`ensure_daemon`) and is sent
    again; :meth:`kill` and :meth:`info` never start one.

    ::

        with Client() as ptm:
            for row in ptm.processes():
                print(row["name"], row["status"])
    """

    def __init__(
        self, home: Path | None = None, *, timeout: float = 10.0, autostart: bool = True
    ) -> None:
        self.home = home if home is not None else Home.from_env().root
        self.socket = Home(self.home).socket
        self.timeout = timeout
        self.autostart = autostart
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket), verify=False),
            base_url="http://ptm",
            timeout=timeout,
            trust_env=False,
        )
        self._connected = False

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- processes ------------------------------------------------------------------------

    def processes(self) -> list[Json]:
        """Every instance's row (what ``ptm jlist`` prints)."""
        rows: list[Json] = self._call("GET", "/v1/processes")
        return rows

    def describe(self, target: str | int) -> Json:
        """One app in full: its rows, spec, env, source file and run history."""
        return self._object("GET", _target(target))

    def history(
        self, target: str | int = "all", resolution: str | None = None, points: int | None = None
    ) -> Json:
        """Each instance's cpu and memory, per second (10 min) and per minute (24 h):
        ``{"processes": [{"id", "name", "instance", "second": {...}, "minute": {...}}]}``;
        ``resolution`` keeps one of them, ``points`` only the last of each."""
        params = _params(resolution=resolution, points=None if points is None else str(points))
        return self._object("GET", f"{_target(target)}/history", params=params)

    def start_ecosystem(
        self,
        path: str | os.PathLike[str],
        only: Sequence[str] | None = None,
        env: str | None = None,
        *,
        caller_env: Mapping[str, str] | None = None,
        update_env: bool = False,
    ) -> Json:
        """Start (or restart with the new settings) the apps of an ecosystem file.

        New apps inherit ``caller_env`` (``ptm`` sends its own environment; ``None``: the
        daemon's); apps already known keep the one they inherit unless ``update_env``."""
        body = {
            "ecosystem": os.path.abspath(os.fspath(path)),
            "only": list(only) if only is not None else None,
            "env": env,
            "caller_env": _env(caller_env),
            "update_env": update_env,
        }
        return self._object("POST", "/v1/processes", body=body, wait=True)

    def start_app(
        self,
        entry: Mapping[str, Any],
        base_dir: str | os.PathLike[str],
        *,
        caller_env: Mapping[str, str] | None = None,
        update_env: bool = False,
    ) -> Json:
        """Start one app from an ``[[apps]]``-style table; relative paths are from ``base_dir``
        (the environment as for :meth:`start_ecosystem`)."""
        body = {
            "app": dict(entry),
            "base_dir": os.path.abspath(os.fspath(base_dir)),
            "caller_env": _env(caller_env),
            "update_env": update_env,
        }
        return self._object("POST", "/v1/processes", body=body, wait=True)

    def stop(self, target: str | int) -> Json:
        return self._action(target, "stop")

    def start(self, target: str | int, *, update_env: Mapping[str, str] | None = None) -> Json:
        """Start known apps that are stopped (or errored). With ``update_env`` (an
        environment) they inherit it from now on."""
        return self._action(target, "start", {"caller_env": _env(update_env)})

    def restart(self, target: str | int, *, update_env: Mapping[str, str] | None = None) -> Json:
        """Restart apps; with ``update_env`` (an environment) they inherit it from now on,
        else they keep the one they inherit."""
        return self._action(target, "restart", {"caller_env": _env(update_env)})

    def reload(self, target: str | int, *, update_env: Mapping[str, str] | None = None) -> Json:
        """Reload apps (one instance at a time); ``update_env`` as for :meth:`restart`."""
        return self._action(target, "reload", {"caller_env": _env(update_env)})

    def delete(self, target: str | int) -> Json:
        """Stop and forget apps, or one process by its id: ``{"deleted", "ids"}``."""
        return self._object("DELETE", _target(target), wait=True)

    def scale(self, target: str | int, instances: int) -> Json:
        return self._action(target, "scale", {"instances": instances})

    def signal(self, target: str | int, sig: str) -> Json:
        """Send ``sig`` (a name such as ``"SIGUSR1"``): ``{"signalled": [pids]}``."""
        return self._action(target, "signal", {"signal": sig})

    def reset(self, target: str | int) -> Json:
        """Zero the restart counters."""
        return self._action(target, "reset")

    # -- logs and events ------------------------------------------------------------------

    def logs(self, app: str | None = None, lines: int = 15, stream: Stream = "both") -> list[Json]:
        """The last ``lines`` lines of each log file, oldest first (``app``: a target; a process
        id gives only that process's lines)."""
        params = _params(app=app, lines=str(lines), stream=stream)
        answer = self._object("GET", "/v1/logs", params=params)
        found: list[Json] = answer.get("lines", [])
        return found

    def follow_logs(self, app: str | None = None, stream: Stream = "both") -> Iterator[Json]:
        """Every new output line, as it comes, until the iterator is closed. When the daemon
        stops, the last item is ``{"daemon": "stopped"}`` and the iterator ends."""
        return self._stream("/v1/logs/follow", _params(app=app, stream=stream))

    def events(self) -> Iterator[Json]:
        """Every state change, as it happens, until the iterator is closed."""
        return self._stream("/v1/events", {})

    def flush(self, app: str | None = None) -> Json:
        """Empty the log files (of ``app``, or every app)."""
        return self._object("POST", "/v1/logs/flush", body={"app": app})

    def reload_logs(self) -> Json:
        """Reopen every log file (after an external logrotate moved them)."""
        return self._object("POST", "/v1/logs/reload")

    # -- the daemon -----------------------------------------------------------------------

    def save(self, force: bool = False) -> Json:
        """Write the running set to ``$PTM_HOME/dump.toml``: ``{"path", "apps"}``."""
        return self._object("POST", "/v1/save", body={"force": force})

    def resurrect(self, caller_env: Mapping[str, str] | None = None) -> Json:
        """Start the apps of ``dump.toml`` that are not running: ``{"started", "skipped"}``.
        Each inherits the environment the daemon stored for it; an app it does not know
        inherits ``caller_env``."""
        body = {"caller_env": _env(caller_env)}
        return self._object("POST", "/v1/resurrect", body=body, wait=True)

    def info(self) -> Json:
        """``{"pid", "version", "uptime_s", "home", "apps", "processes"}``; never starts one."""
        return self._object("GET", "/v1/info", autostart=False)

    def metrics(self) -> str:
        """The daemon's figures in Prometheus' text format (``GET /v1/metrics``)."""
        what = "GET /v1/metrics"
        response = self._send(self._http.build_request("GET", "/v1/metrics"), what)
        if response.status_code >= 400:
            raise _api_error(response, what)
        return response.text

    def update(self, wait: float = 30.0) -> Json:
        """``ptm update``: the daemon checks the installed version, then re-executes as it
        with every app running on. Waits up to ``wait`` seconds for the new image to answer;
        returns ``{"pid", "from", "to", "seconds", "daemon"}`` (``daemon``: its new
        :meth:`info`). An ``ApiError`` when the daemon refuses, and then nothing changed."""
        before = self.info().get("reexecuted_at")
        began = time.monotonic()
        answer = self._object("POST", "/v1/daemon/update", autostart=False, wait=True)
        while True:
            with contextlib.suppress(ClientError):  # the exec cuts what was under way
                info = self._object("GET", "/v1/daemon", autostart=False)
                if info.get("reexecuted_at") != before:
                    return {**answer, "seconds": time.monotonic() - began, "daemon": info}
            if time.monotonic() - began > wait:
                raise ClientError(
                    f"the daemon did not answer as the new version within {wait:g} s of the "
                    f"update (see {self.home / 'daemon.log'})"
                )
            time.sleep(0.01)

    def ping(self) -> Json:
        """Start the daemon if needed (with ``autostart``) and return :meth:`info`."""
        if self.autostart:
            ensure_daemon(self.home, timeout=self.timeout)
        return self.info()

    def kill(self, wait: float = _KILL_WAIT) -> Json:
        """Stop every app, then the daemon; never starts one.

        Waits up to ``wait`` seconds until the daemon's process is gone; the answer is the
        daemon's ``{"stopping": true}`` plus its ``pid``.
        """
        pid = self.info()["pid"]
        answer = self._object("POST", "/v1/kill", autostart=False)
        if wait > 0 and isinstance(pid, int) and not _wait_gone(pid, wait):
            raise ClientError(f"the daemon (pid {pid}) is still running {wait:g} s after kill")
        return {**answer, "pid": pid}

    # -- plumbing -------------------------------------------------------------------------

    def _action(self, target: str | int, verb: str, body: Json | None = None) -> Json:
        return self._object("POST", f"{_target(target)}/{verb}", body=body, wait=True)

    def _object(self, method: str, path: str, **options: Unpack[_CallOptions]) -> Json:
        answer = self._call(method, path, **options)
        if not isinstance(answer, dict):
            raise ClientError(f"the daemon answered {method} {path} with {type(answer).__name__}")
        return answer

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        params: dict[str, str] | None = None,
        wait: bool = False,
        autostart: bool = True,
    ) -> Any:
        what = f"{method} {path}"
        timeout = httpx.Timeout(self.timeout, read=None) if wait else self.timeout
        request = self._http.build_request(method, path, json=body, params=params, timeout=timeout)
        try:
            response = self._send(request, what)
        except DaemonNotRunning:
            if not (self.autostart and autostart):
                raise
            ensure_daemon(self.home, timeout=self.timeout)
            response = self._send(request, what)  # never sent the first time: safe to send
        return _decode(response, what)

    def _send(self, request: httpx.Request, what: str) -> httpx.Response:
        self._check()
        with self._translated(what):
            return self._http.send(request)

    def _check(self) -> None:
        if not self._connected:
            check_socket(self.socket, self.timeout)
            self._connected = True

    def _stream(self, path: str, params: dict[str, str]) -> Iterator[Json]:
        what = f"GET {path}"
        request = self._http.build_request(
            "GET", path, params=params, timeout=httpx.Timeout(self.timeout, read=None)
        )
        try:
            response = self._send_streaming(request, what)
        except DaemonNotRunning:
            if not self.autostart:
                raise
            ensure_daemon(self.home, timeout=self.timeout)
            response = self._send_streaming(request, what)
        return self._lines(response, what)

    def _send_streaming(self, request: httpx.Request, what: str) -> httpx.Response:
        self._check()
        with self._translated(what):
            response = self._http.send(request, stream=True)
        if response.status_code >= 400:
            with self._translated(what), contextlib.closing(response):
                response.read()
            raise _api_error(response, what)
        return response

    def _lines(self, response: httpx.Response, what: str) -> Iterator[Json]:
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
            raise ClientError(
                f"the daemon did not answer {what} within {self.timeout:g} s"
                f" (see {self.home / 'daemon.log'})"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"lost the connection to the daemon during {what}: {exc}") from None


def _env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(env) if env is not None else None


def _target(target: str | int) -> str:
    return f"/v1/processes/{quote(str(target), safe='')}"


def _params(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


def _decode(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise _api_error(response, what)
    try:
        return response.json()
    except ValueError:
        raise ClientError(f"the daemon answered {what} with something that is not JSON") from None


def _api_error(response: httpx.Response, what: str) -> ApiError:
    status = response.status_code
    kind = "internal" if status >= 500 else "bad_request"
    message = f"the daemon answered {status} to {what}"
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            if isinstance(body.get("error"), str) and body["error"]:
                message = body["error"]
            if isinstance(body.get("kind"), str):
                kind = body["kind"]
    return ApiError(message, status=status, kind=kind)


def _wait_gone(pid: int, wait: float) -> bool:
    """Wait until process ``pid`` has ended (reaping it if it is our child)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _running(pid):
            return True
        time.sleep(0.02)
    return False


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (one whose parent has not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"
