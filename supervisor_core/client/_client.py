"""The daemon's socket API (docs/api.md) as a synchronous Python client.

Every failure leaves as a :class:`~supervisor_core.errors.ClientError`: no socket or nothing
listening is :class:`DaemonNotRunning`, a socket we may not open is
:class:`SocketPermissionDenied`, an error answer is :class:`ApiError` (its ``status``, its
``kind`` and the daemon's one-line message), and a timeout or a dropped connection is a
``ClientError`` saying what was being asked. No httpx exception gets out.

A GET that waits for nothing (``processes``, ``describe``, ``info``, ``logs``...) is sent with
the standard library (``_light.py``), so that ``ptm jlist`` never imports httpx; the rest (a
body to send, a start or stop to wait for, a stream) goes through httpx (``_http.py``), made
on the first such call. ``_failures.py`` maps the failures of both the same way.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack
from urllib.parse import quote, urlencode

from supervisor_core._home import Home
from supervisor_core.client._failures import (
    api_error,
    connect_failure,
    decoded,
    lost_connection,
    timed_out,
)
from supervisor_core.client._light import Answer, BadAnswer, ConnectFailed, get
from supervisor_core.client._spawn import ensure_daemon
from supervisor_core.errors import ClientError, DaemonNotRunning

if TYPE_CHECKING:
    from supervisor_core.client._http import Channel

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
        self._channel: Channel | None = None

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

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

    def scale(
        self, target: str | int, instances: int | None = None, *, change: int | None = None
    ) -> Json:
        """Give the app ``instances`` instances, or add (``change`` > 0) or remove
        (``change`` < 0) that many from those it has when the daemon acts."""
        body = {"instances": instances} if change is None else {"change": change}
        return self._action(target, "scale", body)

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
        answer = self._send("GET", "/v1/metrics")
        if answer.status >= 400:
            raise api_error(answer.status, answer.body, "GET /v1/metrics")
        return answer.body.decode("utf-8", "replace")

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
        try:
            answer = self._send(method, path, body=body, params=params, wait=wait)
        except DaemonNotRunning:
            if not (self.autostart and autostart):
                raise
            ensure_daemon(self.home, timeout=self.timeout)
            # never sent the first time: safe to send
            answer = self._send(method, path, body=body, params=params, wait=wait)
        return decoded(answer.status, answer.body, f"{method} {path}")

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        params: dict[str, str] | None = None,
        wait: bool = False,
    ) -> Answer:
        if method == "GET" and body is None and not wait:
            return self._get(path, params)
        channel = self._http()
        if not wait:
            return channel.send(method, path, body=body, params=params)
        return self._watched(
            lambda: channel.send(method, path, body=body, params=params, wait=True),
            f"{method} {path}",
        )

    def _watched(self, call: Callable[[], Answer], what: str) -> Answer:
        """``call``, a call that waits as long as the daemon works (no read timeout: a stop
        lasts up to the app's kill_timeout), made in a thread while this one asks the daemon
        on a second connection, every ``timeout`` seconds, whether it answers at all. One
        that accepts the question and does not answer it within ``timeout`` (stopped, its
        event loop wedged) fails the call, instead of leaving it to hang for ever. A daemon
        that is gone is left to the call itself to report."""
        import threading

        result: list[Answer] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(call())
            except BaseException as exc:  # handed to the caller's thread below
                failure.append(exc)

        worker = threading.Thread(target=run, name="ptm-call", daemon=True)
        worker.start()
        while True:
            worker.join(self.timeout)
            if not worker.is_alive():
                break
            try:
                get(self.socket, "/v1/info", self.timeout)
            except TimeoutError:
                worker.join(0.1)  # unless it has answered meanwhile
                if worker.is_alive():
                    raise ClientError(
                        f"the daemon stopped answering during {what}: it did not answer "
                        f"GET /v1/info within {self.timeout:g} s; it may still carry out the "
                        f"request if it recovers (see {self.home / 'daemon.log'})"
                    ) from None
            except (OSError, BadAnswer, ConnectFailed):
                pass  # gone or going: the call learns it from its own connection
        if failure:
            raise failure[0]
        return result[0]

    def _get(self, path: str, params: dict[str, str] | None) -> Answer:
        """A GET by the standard library, its failures mapped as httpx's are."""
        what = f"GET {path}"
        try:
            return get(self.socket, f"{path}?{urlencode(params)}" if params else path, self.timeout)
        except ConnectFailed as exc:
            raise connect_failure(self.socket, exc.error) from None
        except TimeoutError:
            raise timed_out(what, self.timeout, self.home) from None
        except (OSError, BadAnswer) as exc:
            raise lost_connection(what, exc) from None

    def _http(self) -> Channel:
        """The httpx client, made on first use."""
        if self._channel is None:
            from supervisor_core.client._http import Channel

            self._channel = Channel(self.home, self.socket, self.timeout)
        return self._channel

    def _stream(self, path: str, params: dict[str, str]) -> Iterator[Json]:
        try:
            return self._http().stream(path, params)
        except DaemonNotRunning:
            if not self.autostart:
                raise
            ensure_daemon(self.home, timeout=self.timeout)
            return self._http().stream(path, params)


def _env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(env) if env is not None else None


def _target(target: str | int) -> str:
    return f"/v1/processes/{quote(str(target), safe='')}"


def _params(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


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
