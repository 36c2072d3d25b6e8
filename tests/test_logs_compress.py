"""Background gzip of rotated logs: closing a writer never waits for it, one gzip at a time."""

from __future__ import annotations

import errno
import gzip
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_core.config import LogSpec
from supervisor_core.logs import LogFiles, RotatingWriter, _rotated, rotated_files

DEADLINE = 20.0


class HeldGzip:
    """Replaces gzip_rotated: each call waits for ``gate``, then gzips for real; records how
    many ran at once."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._real = _rotated.gzip_rotated

    def __call__(self, target: Path, mode: int) -> str | None:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.calls.append(target.name)
        self.started.set()
        try:
            assert self.gate.wait(DEADLINE), "the test never opened the gate"
            return self._real(target, mode)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldGzip]:
    gzipper = HeldGzip()
    monkeypatch.setattr(_rotated, "gzip_rotated", gzipper)
    yield gzipper
    gzipper.gate.set()  # never leave the shared gzip thread stuck


def _rotate_once(writer: RotatingWriter) -> None:
    writer.write(b"0123456789\n")
    writer.write(b"rotates\n")


def test_close_does_not_wait_for_a_gzip_in_progress(tmp_path: Path, held: HeldGzip) -> None:
    path = tmp_path / "big.log"
    writer = RotatingWriter(path, max_size=10, max_files=5, compress=True)
    _rotate_once(writer)
    assert held.started.wait(DEADLINE)
    began = time.monotonic()
    writer.close()
    assert time.monotonic() - began < 2.0  # the gzip is still held: close did not wait for it
    assert not held.gate.is_set()
    held.gate.set()
    assert writer.wait_compressed(DEADLINE)
    (gz,) = rotated_files(path)
    assert gz.name.endswith(".log.gz")
    with gzip.open(gz) as f:
        assert f.read() == b"0123456789\n"


def test_two_writers_of_one_path_never_gzip_at_once(tmp_path: Path, held: HeldGzip) -> None:
    # An app restarted with new settings: the old writer is closed while its gzip runs, and
    # the new one (same file) rotates at once. The second job waits for the first.
    path = tmp_path / "same.log"
    first = RotatingWriter(path, max_size=10, max_files=5, compress=True)
    _rotate_once(first)
    assert held.started.wait(DEADLINE)
    first.close()
    second = RotatingWriter(path, max_size=10, max_files=5, compress=True)
    second.write(b"more than ten\n")  # rotates "rotates\n": queued behind the first job
    second.write(b"again\n")  # and this one
    held.gate.set()
    second.close(wait=True)
    assert first.wait_compressed(DEADLINE)
    assert held.most_at_once == 1
    rotated = rotated_files(path)
    assert [p.name.endswith(".gz") for p in rotated] == [True, True, True]
    contents = []
    for gz in rotated:
        with gzip.open(gz) as f:
            contents.append(f.read())
    assert contents == [b"0123456789\n", b"rotates\n", b"more than ten\n"]


def test_releasing_a_sink_returns_while_logfiles_close_waits(
    tmp_path: Path, held: HeldGzip
) -> None:
    spec = LogSpec(
        out_file=tmp_path / "a-out.log",
        error_file=tmp_path / "a-err.log",
        max_size=10,
        max_files=5,
        compress=True,
    )
    files = LogFiles()
    sink = files.open_sink("a", spec, 0)
    sink.write("out", [b"0123456789"])
    sink.write("out", [b"rotates"])
    assert held.started.wait(DEADLINE)
    began = time.monotonic()
    sink.close()  # ptm delete: runs on the daemon's event loop
    assert time.monotonic() - began < 2.0
    # The daemon's shutdown still lets it finish: close() waits for the released writer too.
    opener = threading.Timer(0.2, held.gate.set)
    opener.start()
    try:
        files.close()
    finally:
        opener.cancel()
    assert held.gate.is_set()
    (gz,) = rotated_files(sink.out_path)
    assert gz.name.endswith(".log.gz")
    assert not list(tmp_path.glob("*.tmp"))


def test_an_error_after_close_goes_to_the_log(
    tmp_path: Path,
    held: HeldGzip,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_gzip(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "simulated gzip failure")

    monkeypatch.setattr("supervisor_core.logs._rotated.gzip.GzipFile", broken_gzip)
    path = tmp_path / "e.log"
    errors: list[str] = []
    writer = RotatingWriter(path, max_size=10, max_files=5, compress=True, on_error=errors.append)
    _rotate_once(writer)
    assert held.started.wait(DEADLINE)
    writer.close()
    with caplog.at_level(logging.WARNING, logger="supervisor_core.logs"):
        held.gate.set()
        assert writer.wait_compressed(DEADLINE)
    assert errors == []  # on_error belongs to the supervisor's thread: not called after close
    messages = [r.getMessage() for r in caplog.records if r.name == "supervisor_core.logs"]
    assert len(messages) == 1 and "cannot gzip" in messages[0], messages
    # The plain file stays, no half-written .gz replaced it.
    (plain,) = rotated_files(path)
    assert plain.read_bytes() == b"0123456789\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".gz", ".tmp"))]


def test_an_unexpected_error_in_the_job_is_reported_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> list[str]:
        raise RuntimeError("boom")

    monkeypatch.setattr("supervisor_core.logs._writer.compress_old", crash)
    errors: list[str] = []
    path = tmp_path / "u.log"
    writer = RotatingWriter(path, max_size=10, max_files=5, compress=True, on_error=errors.append)
    _rotate_once(writer)
    writer.close(wait=True)
    assert len(errors) == 1 and "boom" in errors[0], errors
