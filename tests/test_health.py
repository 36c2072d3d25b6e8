"""Health checks: a real Supervisor, a real app, and a local HTTP server whose answers the test
chooses (200, 404, 503, no answer, a reset connection, a closed port)."""

from __future__ import annotations

import dataclasses
import re
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream, TaskGroup

from supervisor_core import Supervisor
from supervisor_core._info import StateEvent
from supervisor_core.cli._describe import render_describe
from supervisor_core.config import AppSpec, HealthCheckSpec, ReadinessSpec, RestartPolicy
from supervisor_core.drivers import (
    DEFAULT_DRIVERS,
    health_check_passes,
    health_driver,
    instance_url,
    probe,
    probe_client,
)
from tests.helpers import Output, eventually, python_app

pytestmark = pytest.mark.anyio

Answer = int | str
"""An HTTP status, ``"hang"`` (never answer) or ``"reset"`` (close with a RST)."""

SLEEPER = """
    import os, time
    print("up", os.environ["PTM_INSTANCE"], flush=True)
    while True:
        time.sleep(1)
"""
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MARGIN = 1.5
"""Seconds allowed beyond interval × failures for a restart (scheduling on a busy machine)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class HealthServer:
    """An HTTP server on 127.0.0.1 answering each path from a script: ``answer(path, a, b)``
    makes the next requests get ``a``, then ``b`` for ever."""

    def __init__(self, tg: TaskGroup) -> None:
        self._tg = tg
        self.port = 0
        self.default: Answer = 200
        self._answers: dict[str, list[Answer]] = {}
        self.hits: list[tuple[str, Answer]] = []
        self._hit = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._closed = anyio.Event()

    def url(self, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *answers: Answer) -> None:
        self._answers[path] = list(answers)

    def _next(self, path: str) -> Answer:
        script = self._answers.get(path)
        if not script:
            return self.default
        return script.pop(0) if len(script) > 1 else script[0]

    async def listen(self) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        self.port = listener.extra(SocketAttribute.local_port)
        scope = self._scope = anyio.CancelScope()
        closed = self._closed = anyio.Event()

        async def serve() -> None:
            with scope:
                async with listener:
                    await listener.serve(self._handle)
            closed.set()

        self._tg.start_soon(serve)

    async def stop_listening(self) -> None:
        """Close the port (and every open connection): probes meet a refused connection."""
        assert self._scope is not None
        self._scope.cancel()
        await self._closed.wait()

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                try:
                    request += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                if not request.startswith(b"GET"[: len(request)]):  # a TLS hello, say
                    await stream.send(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    return
            path = request.split(b" ", 2)[1].decode()
            answer = self._next(path)
            self.hits.append((path, answer))
            self._hit.set()
            self._hit = anyio.Event()
            if answer == "hang":
                await anyio.sleep_forever()
            if answer == "reset":
                raw = stream.extra(SocketAttribute.raw_socket)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            head = f"HTTP/1.1 {answer} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            await stream.send(head.encode())

    async def wait_hits(self, count: int, path: str | None = None, timeout: float = 10) -> None:
        """Until ``count`` requests (to ``path``, if given) have arrived in all."""
        with anyio.fail_after(timeout):
            while len([h for h in self.hits if path is None or h[0] == path]) < count:
                await self._hit.wait()


@asynccontextmanager
async def health_server() -> AsyncIterator[HealthServer]:
    async with anyio.create_task_group() as tg:
        server = HealthServer(tg)
        await server.listen()
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


def checked_app(
    tmp_path: Path,
    url: str,
    *,
    interval: float = 0.2,
    timeout: float = 0.5,
    failures: int = 2,
    grace: float = 0.0,
    instances: int = 1,
    restart: RestartPolicy | None = None,
    exec_mode: str = "fork",
) -> AppSpec:
    spec = python_app(tmp_path, "web", SLEEPER, instances=instances, restart=restart)
    return dataclasses.replace(
        spec,
        exec_mode="cluster" if exec_mode == "cluster" else "fork",
        health_check=HealthCheckSpec(url, interval=interval, timeout=timeout, failures=failures),
        readiness=ReadinessSpec(listen_timeout=grace),
    )


def supervisor(out: Output | None = None) -> Supervisor:
    return Supervisor(write_logs=False, on_output=out, drivers=(health_driver,))


async def next_health_restart(
    events: anyio.abc.ObjectReceiveStream[StateEvent], timeout: float
) -> StateEvent:
    """The next event of an instance stopping for reason ``health``."""
    with anyio.fail_after(timeout):
        async for event in events:
            if event.status == "stopping" and event.reason == "health":
                return event
    raise AssertionError("the event stream ended")


async def wait_health(
    sup: Supervisor, predicate: object, instance: int = 0, timeout: float = 10
) -> dict[str, object]:
    """Until instance ``instance``'s last health result satisfies ``predicate``."""
    assert callable(predicate)
    with anyio.fail_after(timeout):
        while True:
            health = sup.info("web")[instance].health
            if health is not None and predicate(health):
                return dict(health)
            await anyio.sleep(0.02)


def ok(health: object) -> bool:
    return isinstance(health, dict) and health["ok"] is True


# ---------------------------------------------------------------------------------------------
# probe()


async def test_probe_classifies_answers_and_failures() -> None:
    check = HealthCheckSpec("http://unused", interval=1, timeout=0.3, failures=1)
    async with health_server() as server, probe_client() as client:
        server.answer("/a", 200, 302, 404, 500, 503, "hang", "reset")
        results = [await probe(check, server.url("/a"), client) for _ in range(7)]
        tls = await probe(check, server.url("/a").replace("http:", "https:"), client)
        await server.stop_listening()
        refused = await probe(check, server.url("/a"), client)
    assert [(r.ok, r.detail, r.status_code) for r in results] == [
        (True, "HTTP 200", 200),
        (True, "HTTP 302", 302),  # a redirect is an answer, not followed
        (True, "HTTP 404", 404),  # so is a 4xx: restarting cannot fix a wrong URL
        (False, "HTTP 500", 500),
        (False, "HTTP 503", 503),
        (False, "timeout after 300ms", None),
        (False, "connection reset", None),
    ]
    assert (refused.ok, refused.detail) == (False, "connection refused")
    assert not tls.ok and tls.detail.startswith("TLS error: "), tls  # never a bogus errno
    mapping = results[0].as_mapping(0)
    assert mapping["ok"] is True and mapping["failures"] == 0
    assert ISO_UTC.match(str(mapping["at"])), mapping


async def test_probe_timeout_covers_the_whole_exchange() -> None:
    """A server that accepts but never answers is a miss after ``timeout``, not later."""
    check = HealthCheckSpec("http://unused", interval=1, timeout=0.25, failures=1)
    async with health_server() as server, probe_client() as client:
        server.default = "hang"
        started = anyio.current_time()
        result = await probe(check, server.url(), client)
        took = anyio.current_time() - started
    assert (result.ok, result.detail) == (False, "timeout after 250ms")
    assert 0.2 <= took < 1.0


async def test_probe_client_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    check = HealthCheckSpec("http://unused", interval=1, timeout=2, failures=1)
    async with health_server() as server, probe_client() as client:
        result = await probe(check, server.url(), client)
    assert result.detail == "HTTP 200"


async def test_health_check_passes_probes_one_instance(tmp_path: Path) -> None:
    async with health_server() as server:
        server.answer("/i/1", 503)
        spec = checked_app(tmp_path, server.url("/i/{instance}"))
        assert await health_check_passes(spec, 0) is True
        assert await health_check_passes(spec, 1) is False
        assert [path for path, _ in server.hits] == ["/i/0", "/i/1"]
    assert await health_check_passes(python_app(tmp_path, "plain", SLEEPER), 0) is False


def test_instance_url_replaces_every_placeholder() -> None:
    assert instance_url("http://127.0.0.1:3000/i/{instance}/health", 2) == (
        "http://127.0.0.1:3000/i/2/health"
    )
    assert instance_url("http://h/{x}?a={instance}&b={instance}", 1) == "http://h/{x}?a=1&b=1"


def test_health_driver_is_a_default_driver() -> None:
    assert health_driver in DEFAULT_DRIVERS


# ---------------------------------------------------------------------------------------------
# The driver under a real Supervisor


async def test_5xx_misses_restart_with_reason_health_in_time(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        spec = checked_app(tmp_path, server.url(), interval=0.2, failures=3)
        async with sup.subscribe() as events:
            await sup.add(spec)
            first = await wait_health(sup, ok)
            assert first["detail"] == "HTTP 200" and first["failures"] == 0
            assert ISO_UTC.match(str(first["at"]))
            old_pid = sup.info("web")[0].pid
            server.default = 503
            switched = anyio.current_time()
            event = await next_health_restart(events, timeout=10)
            took = anyio.current_time() - switched
        assert took <= 0.2 * 3 + MARGIN, took
        assert event.pid == old_pid
        server.default = 200
        infos = await sup.wait_until(
            lambda i: i[0].status == "online" and i[0].pid != old_pid, timeout=10
        )
        assert infos[0].last_restart_reason == "health" and infos[0].restarts == 1
        assert sup.runs("web")[0].end_reason == "health"
        # The 503 that triggered it stays visible until the new run answers.
        after = await wait_health(sup, ok)
        assert after == {"ok": True, "detail": "HTTP 200", "at": after["at"], "failures": 0}


async def test_misses_are_counted_and_shown(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        await sup.add(checked_app(tmp_path, server.url(), interval=0.1, failures=3))
        await wait_health(sup, ok)
        server.default = 503
        one = await wait_health(sup, lambda h: h["failures"] == 1)
        two = await wait_health(sup, lambda h: h["failures"] == 2)
    assert (one["ok"], one["detail"]) == (False, "HTTP 503")
    assert (two["ok"], two["detail"]) == (False, "HTTP 503")


async def test_4xx_is_an_answer_and_never_restarts(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        server.default = 404
        await sup.add(checked_app(tmp_path, server.url(), interval=0.05, failures=1))
        await server.wait_hits(8)
        health = sup.info("web")[0].health
        assert health is not None and health["ok"] is True and health["detail"] == "HTTP 404"
        assert sup.info("web")[0].restarts == 0 and sup.runs("web")[-1].ended_at is None


async def test_a_timeout_is_a_miss(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        spec = checked_app(tmp_path, server.url(), interval=0.2, timeout=0.2, failures=2)
        async with sup.subscribe() as events:
            await sup.add(spec)
            await wait_health(sup, ok)
            server.default = "hang"
            switched = anyio.current_time()
            await next_health_restart(events, timeout=10)
            took = anyio.current_time() - switched
        assert took <= (0.2 + 0.2) * 2 + MARGIN, took
        await eventually(lambda: sup.runs("web")[0].end_reason == "health")
        health = sup.info("web")[0].health
        assert health is not None and health["detail"] == "timeout after 200ms"


async def test_a_refused_connection_is_a_miss(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        async with sup.subscribe() as events:
            await sup.add(checked_app(tmp_path, server.url(), interval=0.2, failures=2))
            await wait_health(sup, ok)
            await server.stop_listening()
            switched = anyio.current_time()
            await next_health_restart(events, timeout=10)
            took = anyio.current_time() - switched
        assert took <= 0.2 * 2 + MARGIN, took
        health = sup.info("web")[0].health
        assert health is not None and health["detail"] == "connection refused"
        assert health["ok"] is False


async def test_an_answer_resets_the_count(tmp_path: Path) -> None:
    """failures = 3 and never three misses in a row: no restart, however many misses."""
    async with health_server() as server, supervisor() as sup:
        server.answer("/health", 200, 503, 503, 200, 503, 503, 200, 503, 503, 200, 200)
        await sup.add(checked_app(tmp_path, server.url(), interval=0.05, failures=3))
        await server.wait_hits(11)
        await wait_health(sup, lambda h: h["ok"] is True)
        info = sup.info("web")[0]
        assert info.restarts == 0 and info.status == "online"
        assert len(sup.runs("web")) == 1


async def test_misses_of_a_new_run_do_not_count_during_the_grace_period(tmp_path: Path) -> None:
    """A run that never answered has max(interval, listen_timeout) before misses count."""
    async with health_server() as server, supervisor() as sup:
        server.default = 503
        spec = checked_app(tmp_path, server.url(), interval=0.1, failures=2, grace=1.5)
        async with sup.subscribe() as events:
            await sup.add(spec)
            added = anyio.current_time()
            in_grace = await wait_health(sup, lambda h: True)
            assert in_grace["ok"] is False and in_grace["failures"] == 0
            assert in_grace["detail"] == "HTTP 503 (grace period)"
            await next_health_restart(events, timeout=10)
            took = anyio.current_time() - added
        assert 1.5 <= took <= 1.5 + 0.1 * 2 + MARGIN, took


async def test_the_first_answer_ends_the_grace_period(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        server.answer("/health", 200, 503)
        spec = checked_app(tmp_path, server.url(), interval=0.1, failures=2, grace=30)
        async with sup.subscribe() as events:
            await sup.add(spec)
            await next_health_restart(events, timeout=0.1 * 3 + MARGIN)


async def test_quick_unhealthy_runs_end_errored(tmp_path: Path) -> None:
    """Each run answers once, then 503s: unstable restarts with backoff, then errored."""
    async with health_server() as server, supervisor() as sup:
        server.default = 503
        server.answer("/health", 200, 503)
        policy = RestartPolicy(max_restarts=2, min_uptime=30.0, restart_delay=0.05)
        spec = checked_app(tmp_path, server.url(), interval=0.1, failures=2, restart=policy)
        statuses: list[tuple[str, str | None]] = []
        async with sup.subscribe() as events:
            await sup.add(spec)
            with anyio.fail_after(20):
                async for event in events:
                    statuses.append((event.status, event.reason))
                    if event.status == "online":
                        server.answer("/health", 200, 503)  # the new run answers first
                    if event.status == "errored":
                        break
        info = sup.info("web")[0]
        assert info.status == "errored" and info.restarts == 2
        assert info.last_restart_reason == "health"
        assert [r.end_reason for r in sup.runs("web")] == ["health"] * 3
        assert ("waiting restart", "health") in statuses


async def test_a_result_that_outlives_its_run_is_dropped(tmp_path: Path) -> None:
    """A probe in flight when the instance restarts for another reason gives no verdict."""
    async with health_server() as server, supervisor() as sup:
        spec = checked_app(tmp_path, server.url(), interval=0.1, timeout=1.0, failures=1)
        await sup.add(spec)
        await wait_health(sup, ok)
        server.default = "hang"
        hits = len(server.hits)
        await server.wait_hits(hits + 1)  # a probe is waiting for its answer
        server.default = 200
        await sup.restart_instance("web", 0, "manual")
        await server.wait_hits(hits + 3)  # the new run has been probed since
        await wait_health(sup, ok)
        assert [r.end_reason for r in sup.runs("web")] == ["manual", None]


async def test_instance_placeholder_probes_each_instance(tmp_path: Path) -> None:
    async with health_server() as server, supervisor() as sup:
        url = server.url("/health/{instance}")
        server.answer("/health/1", 200, 503)
        spec = checked_app(tmp_path, url, interval=0.1, failures=2, instances=2)
        async with sup.subscribe() as events:
            await sup.add(spec)
            event = await next_health_restart(events, timeout=5)
        assert event.instance == 1
        infos = sup.info("web")
        assert infos[0].restarts == 0
        await eventually(lambda: sup.runs("web", 1)[0].end_reason == "health")
        assert [r.end_reason for r in sup.runs("web", 0)] == [None]
        health0 = infos[0].health
        assert health0 is not None and health0["detail"] == "HTTP 200"


async def test_one_url_for_the_app_restarts_every_instance(tmp_path: Path) -> None:
    """Without ``{instance}`` (cluster mode: one shared port) the app is one unit."""
    async with health_server() as server, supervisor() as sup:
        server.answer("/health", 200, 503)
        spec = checked_app(
            tmp_path, server.url(), interval=0.1, failures=2, instances=2, exec_mode="cluster"
        )
        await sup.add(spec)
        await sup.wait_until(
            lambda infos: all(i.last_restart_reason == "health" for i in infos), timeout=10
        )
        assert len(server.hits) < 6  # one probe per interval, not one per instance
        for instance in (0, 1):
            assert sup.runs("web", instance)[0].end_reason == "health"
            health = sup.info("web")[instance].health
            assert health is not None and health["detail"] in ("HTTP 503", "HTTP 200")


async def test_no_health_check_no_probe(tmp_path: Path) -> None:
    async with supervisor() as sup:
        spec = python_app(tmp_path, "plain", SLEEPER)
        with anyio.fail_after(2):
            await health_driver(sup, spec)  # returns at once
        await sup.add(spec)
        assert sup.info("plain")[0].health is None


async def test_delete_and_scale_down_end_cleanly(tmp_path: Path) -> None:
    out = Output()
    async with health_server() as server, supervisor(out) as sup:
        url = server.url("/health/{instance}")
        await sup.add(checked_app(tmp_path, url, interval=0.05, instances=2))
        await server.wait_hits(2, "/health/1")
        await sup.scale("web", 1)
        hits = len(server.hits)
        await server.wait_hits(hits + 3)
        assert all(path == "/health/0" for path, _ in server.hits[hits + 1 :])
        await sup.delete("web")
        assert sup.names == []


# ---------------------------------------------------------------------------------------------
# ptm describe


def describe_rows(healths: Sequence[dict[str, object] | None]) -> dict[str, object]:
    rows = [
        {"name": "web", "instance": i, "status": "online", "health": h}
        for i, h in enumerate(healths)
    ]
    spec = {"health_check": {"url": "http://127.0.0.1:3000/health", "failures": 3}}
    return {"name": "web", "processes": rows, "spec": spec}


def test_describe_shows_the_last_health_result() -> None:
    healths: list[dict[str, object] | None] = [
        {"ok": True, "detail": "HTTP 200", "at": "2026-11-28T21:00:00.000Z", "failures": 0},
        {"ok": False, "detail": "HTTP 503", "at": "2026-11-28T21:00:01.500Z", "failures": 2},
        None,
    ]
    text = render_describe(describe_rows(healths), color=False)
    lines = text.splitlines()
    start = lines.index("Health (last check)")
    local = [datetime.fromisoformat(f"2026-11-28T21:00:0{s}+00:00").astimezone() for s in (0, 1)]
    assert lines[start + 1 : start + 4] == [
        f"  0  ✓ HTTP 200 at {local[0]:%Y-%m-%d %H:%M:%S}",
        f"  1  ✗ HTTP 503, 2 of 3 misses at {local[1]:%Y-%m-%d %H:%M:%S}",
        "  2  -",
    ]
    assert lines.index("Processes") < start < lines.index("Config")


def test_describe_without_health_results_has_no_health_section() -> None:
    text = render_describe(describe_rows([None]), color=False)
    assert "Health" not in text
    text = render_describe({"name": "w", "processes": [{"name": "w", "instance": 0}]}, color=False)
    assert "Health" not in text


def test_describe_health_colors_and_plain_text_agree() -> None:
    data = describe_rows([{"ok": False, "detail": "timeout after 2s", "at": None, "failures": 1}])
    colored = render_describe(data, color=True)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", colored)
    assert plain == render_describe(data, color=False)
    assert "\x1b[31m✗" in colored
    assert "  0  ✗ timeout after 2s, 1 of 3 misses" in plain.splitlines()
