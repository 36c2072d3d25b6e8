"""Point-Tron's logs: problems on stderr, the rest on stdout, no line per poll at INFO, and
the access log (ACCESS_LOG=1)."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from point_tron.config import load_settings
from point_tron.errors import SettingsError
from point_tron.logging import configure_logging
from tests.point_tron.conftest import bin_path, point_tron_env, running, tron_sim


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpx_filters = list(logging.getLogger("httpx").filters)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").filters[:] = httpx_filters


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_warnings_and_errors_go_to_stderr_the_rest_to_stdout(restore_logging: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    configure_logging("DEBUG", None, stream=out, err_stream=err)
    log = logging.getLogger("point_tron.test")
    log.debug("a detail")
    log.info("a fact")
    log.warning("a problem")
    log.error("a failure")
    assert [(r["level"], r["message"]) for r in records(out.getvalue())] == [
        ("DEBUG", "a detail"),
        ("INFO", "a fact"),
    ]
    assert [(r["level"], r["message"]) for r in records(err.getvalue())] == [
        ("WARNING", "a problem"),
        ("ERROR", "a failure"),
    ]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_httpx_request_lines_are_debug(restore_logging: None, level: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    configure_logging(level, None, stream=out, err_stream=err)
    configure_logging(level, None, stream=out, err_stream=err)  # twice: one filter, not two
    httpx_log = logging.getLogger("httpx")
    httpx_log.info('HTTP Request: POST http://node/wallet/getnowblock "HTTP/1.1 200 OK"')
    httpx_log.warning("a real httpx problem")
    lines = records(out.getvalue())
    if level == "INFO":
        assert lines == []
    else:
        assert [(r["level"], r["logger"]) for r in lines] == [("DEBUG", "httpx")]
    assert [r["message"] for r in records(err.getvalue())] == ["a real httpx problem"]


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False)]
)
def test_access_log_setting(raw: str, expected: bool) -> None:
    assert load_settings({"ACCESS_LOG": raw}).access_log is expected
    assert load_settings({}).access_log is False


def test_a_bad_access_log_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="ACCESS_LOG"):
        load_settings({"ACCESS_LOG": "sometimes"})


def _wait_for_line(path: Path, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for line in path.read_text().splitlines():
            if needle in line:
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no line with {needle!r} in {path}: {path.read_text()!r}")
        time.sleep(0.05)


@pytest.mark.slow
def test_the_real_service_splits_its_streams_and_logs_each_request(tmp_path: Path) -> None:
    out_path, err_path = tmp_path / "out.log", tmp_path / "err.log"
    with (
        tron_sim() as rpc_url,
        out_path.open("w") as out,
        err_path.open("w") as err,
    ):
        env = point_tron_env(tmp_path, rpc_url, ACCESS_LOG="1", JWT_SECRET="short-secret")
        proc = subprocess.Popen([bin_path("point-tron")], env=env, stdout=out, stderr=err)
        try:
            listening = json.loads(_wait_for_line(out_path, '"listening on '))
            base = f"http://127.0.0.1:{listening['port']}"
            deadline = time.monotonic() + 20
            while True:  # several polls, each an HTTP request to the node
                health = httpx.get(f"{base}/health?token=secret-in-a-query", timeout=5)
                if (health.json()["data"]["database"]["totalBlocks"] or 0) >= 5:
                    break
                assert time.monotonic() < deadline, health.text
                time.sleep(0.1)
            assert httpx.get(f"{base}/no-such-page", timeout=5).status_code == 404
            _wait_for_line(out_path, "GET /no-such-page 404")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    assert code == 0
    stdout, stderr = records(out_path.read_text()), records(err_path.read_text())
    assert stderr, "the short JWT_SECRET warning belongs on stderr"
    assert all(r["level"] in ("WARNING", "ERROR", "CRITICAL") for r in stderr), stderr
    assert any("JWT_SECRET is shorter" in r["message"] for r in stderr)
    assert all(r["level"] in ("DEBUG", "INFO") for r in stdout)
    assert not [r for r in stdout if r["message"].startswith("HTTP Request:")]
    access = [r for r in stdout if r["logger"] == "point_tron.access"]
    health = [r for r in access if r["path"] == "/health"]
    assert health and all(r["method"] == "GET" and r["status"] == 200 for r in health)
    assert all(isinstance(r["ms"], int | float) and r["ms"] >= 0 for r in access)
    assert "secret-in-a-query" not in out_path.read_text()
    (missing,) = [r for r in access if r["path"] == "/no-such-page"]
    assert missing["status"] == 404
    assert missing["message"] == f"GET /no-such-page 404 {missing['ms']}ms"
    assert os.path.getsize(err_path) < os.path.getsize(out_path)


@pytest.mark.slow
def test_two_instances_with_log_dir_each_write_a_file_of_their_own(tmp_path: Path) -> None:
    """Under ptm in cluster mode (examples/ecosystem.toml with --env production sets LOG_DIR)
    both instances log to LOG_DIR. Each rotates its file at midnight by renaming it: two
    processes renaming one file lose the day before and write on under yesterday's name, so
    each instance has a file of its own (instance 0 keeps point-tron.log)."""
    log_dir = tmp_path / "logs"
    pids: dict[str, int] = {}
    with ExitStack() as stack:
        for instance in ("0", "1"):
            env = point_tron_env(
                tmp_path, "http://127.0.0.1:9", LOG_DIR=str(log_dir), PTM_INSTANCE=instance
            )
            app = stack.enter_context(running([bin_path("point-tron")], env))
            line = app.wait_for(r'"message": "listening on ', 20).string
            pids[instance] = json.loads(line)["pid"]
            stack.callback(app.terminate)
    files = {path.name: records(path.read_text()) for path in sorted(log_dir.iterdir())}
    assert sorted(files) == ["point-tron-1.log", "point-tron.log"], files
    for name, instance in (("point-tron.log", "0"), ("point-tron-1.log", "1")):
        listening = [r for r in files[name] if r["message"].startswith("listening on ")]
        assert [r["pid"] for r in listening] == [pids[instance]], (name, listening)


def test_a_midnight_rollover_in_each_instance_keeps_every_line(
    tmp_path: Path, restore_logging: None
) -> None:
    log_dir = tmp_path / "logs"
    handlers = []
    for instance in ("0", "1"):
        settings = load_settings({"LOG_DIR": str(log_dir), "PTM_INSTANCE": instance})
        installed = configure_logging(
            "INFO",
            settings.log_dir,
            log_name=settings.log_name,
            stream=io.StringIO(),
            err_stream=io.StringIO(),
        )
        (file_handler,) = [h for h in installed if isinstance(h, logging.FileHandler)]
        handlers.append(file_handler)

    def write(text: str) -> None:
        for number, handler in enumerate(handlers):
            handler.emit(
                logging.LogRecord("t", logging.INFO, "", 0, f"{text} {number}", None, None)
            )

    write("yesterday")
    for handler in handlers:  # midnight: each rolls over at its next line, in turn
        assert isinstance(handler, logging.handlers.TimedRotatingFileHandler)
        handler.rolloverAt = 0
    write("today")
    for handler in handlers:
        handler.close()
    text = {p.name: [r["message"] for r in records(p.read_text())] for p in log_dir.iterdir()}
    current = {name: lines for name, lines in text.items() if name.endswith(".log")}
    rotated = {name: lines for name, lines in text.items() if not name.endswith(".log")}
    assert current == {"point-tron.log": ["today 0"], "point-tron-1.log": ["today 1"]}
    assert sorted(rotated.values()) == [["yesterday 0"], ["yesterday 1"]], rotated
