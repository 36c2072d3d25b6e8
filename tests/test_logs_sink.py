"""LogFiles and InstanceLogSink: timestamps, shared files, per-instance files, flush, reload."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest

from supervisor_core.config import LogSpec
from supervisor_core.errors import LogError
from supervisor_core.logs import (
    LogFiles,
    instance_log_paths,
    instance_marker,
    pump_lines,
    rotated_files,
    split_marker,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class UtcSeconds:
    """A DateFormatter: ``2027-01-15T08:00:00Z``."""

    source = "%Y-%m-%dT%H:%M:%SZ"

    def __call__(self, timestamp: float) -> str:
        return time.strftime(self.source, time.gmtime(timestamp))


def _spec(tmp_path: Path, **kw: object) -> LogSpec:
    args: dict[str, object] = {
        "out_file": tmp_path / "logs" / "point-tron-out.log",
        "error_file": tmp_path / "logs" / "point-tron-error.log",
        "date_format": None,
    }
    args.update(kw)
    return LogSpec(**args)  # type: ignore[arg-type]


def test_lines_without_date_format_are_written_as_is(tmp_path: Path) -> None:
    files = LogFiles()
    sink = files.open_sink("point-tron", _spec(tmp_path), 0)
    sink.write("out", [b"hello", b"", b"world"])
    sink.write("err", [b"oops"])
    sink.write("out", [])
    files.close()
    assert sink.out_path.read_bytes() == b"hello\n\nworld\n"
    assert sink.err_path.read_bytes() == b"oops\n"


def test_every_line_gets_the_timestamp_prefix(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    files = LogFiles(clock=lambda: now[0])
    sink = files.open_sink("point-tron", _spec(tmp_path, date_format=UtcSeconds()), 0)
    sink.write("out", [b"first", b"second"])
    now[0] += 61
    sink.write("out", [b"third"])
    sink.close()
    assert sink.out_path.read_bytes() == (
        b"2027-01-15T08:00:00Z first\n2027-01-15T08:00:00Z second\n2027-01-15T08:01:01Z third\n"
    )


def test_the_configured_date_format_compiler_works_as_prefix(tmp_path: Path) -> None:
    from supervisor_core.config import compile_date_format

    files = LogFiles(clock=lambda: 1_800_000_000.25)
    fmt = compile_date_format("YYYY-MM-DDTHH:mm:ss.SSSZ")
    sink = files.open_sink("point-tron", _spec(tmp_path, date_format=fmt), 0)
    sink.write("err", [b"boom"])
    files.close()
    assert sink.err_path.read_bytes() == f"{fmt(1_800_000_000.25)} boom\n".encode()


def test_a_broken_date_format_does_not_stop_logging(tmp_path: Path) -> None:
    class Broken:
        source = "broken"

        def __call__(self, timestamp: float) -> str:
            raise RuntimeError("no")

    files = LogFiles()
    sink = files.open_sink("a", _spec(tmp_path, date_format=Broken()), 0)
    sink.write("out", [b"still here"])
    files.close()
    assert sink.out_path.read_bytes() == b"still here\n"


def test_merged_instances_share_one_writer_refcounted(tmp_path: Path) -> None:
    files = LogFiles()
    spec = _spec(tmp_path)
    a = files.open_sink("point-tron", spec, 0)
    b = files.open_sink("point-tron", spec, 1)
    assert a.out_path == b.out_path == spec.out_file
    writer = files.writer(spec.out_file)
    assert writer is not None
    a.write("out", [b"from 0"])
    b.write("out", [b"from 1"])
    a.close()
    a.close()  # idempotent: must not release b's reference
    assert files.writer(spec.out_file) is writer
    b.write("out", [b"from 1 again"])
    b.close()
    assert files.writer(spec.out_file) is None
    assert files.paths("point-tron") == []
    assert spec.out_file.read_bytes() == b"from 0\nfrom 1\nfrom 1 again\n"


def test_a_merged_file_of_several_instances_marks_each_line_with_its_instance(
    tmp_path: Path,
) -> None:
    now = [1_800_000_000.0]
    files = LogFiles(clock=lambda: now[0])
    spec = _spec(tmp_path, date_format=UtcSeconds())
    a = files.open_sink("point-tron", spec, 0, instances=2)
    b = files.open_sink("point-tron", spec, 1, instances=2)
    assert a.write("out", [b"from 0", b"again"]) == b"2027-01-15T08:00:00Z "
    assert b.write("out", [b"[1] from 1"]) == b"2027-01-15T08:00:00Z "
    files.close()
    written = spec.out_file.read_bytes().splitlines()
    assert written == [
        b"[0] 2027-01-15T08:00:00Z from 0",
        b"[0] 2027-01-15T08:00:00Z again",
        b"[1] 2027-01-15T08:00:00Z [1] from 1",
    ]
    assert [split_marker(line) for line in written] == [
        (0, b"2027-01-15T08:00:00Z from 0"),
        (0, b"2027-01-15T08:00:00Z again"),
        (1, b"2027-01-15T08:00:00Z [1] from 1"),
    ]
    assert split_marker(b"no marker [2] here") == (None, b"no marker [2] here")
    assert instance_marker(12) == b"[12] "


def test_one_instance_or_unmerged_files_have_no_marker(tmp_path: Path) -> None:
    files = LogFiles()
    one = files.open_sink("one", _spec(tmp_path, out_file=tmp_path / "one.log"), 0)
    own = files.open_sink("own", _spec(tmp_path, merge_logs=False), 1, instances=2)
    assert one.write("out", [b"line"]) == b""
    own.write("out", [b"line"])
    files.close()
    assert one.out_path.read_bytes() == own.out_path.read_bytes() == b"line\n"


def test_out_and_err_in_one_file_use_one_writer(tmp_path: Path) -> None:
    both = tmp_path / "logs" / "all.log"
    files = LogFiles()
    sink = files.open_sink("a", _spec(tmp_path, out_file=both, error_file=both), 0)
    sink.write("out", [b"o1"])
    sink.write("err", [b"e1"])
    sink.write("out", [b"o2"])
    assert files.paths("a") == [both]
    sink.close()
    assert files.writer(both) is None
    assert both.read_bytes() == b"o1\ne1\no2\n"


def test_unmerged_instances_get_their_own_numbered_files(tmp_path: Path) -> None:
    spec = _spec(tmp_path, merge_logs=False)
    files = LogFiles()
    sinks = [files.open_sink("point-tron", spec, i) for i in range(2)]
    for i, sink in enumerate(sinks):
        sink.write("out", [b"out %d" % i])
        sink.write("err", [b"err %d" % i])
    logs = tmp_path / "logs"
    assert files.paths("point-tron") == [
        logs / "point-tron-out-0.log",
        logs / "point-tron-error-0.log",
        logs / "point-tron-out-1.log",
        logs / "point-tron-error-1.log",
    ]
    files.close()
    assert (logs / "point-tron-out-1.log").read_bytes() == b"out 1\n"
    assert (logs / "point-tron-error-0.log").read_bytes() == b"err 0\n"
    assert not (logs / "point-tron-out.log").exists()


def test_instance_log_paths(tmp_path: Path) -> None:
    spec = _spec(tmp_path, out_file=tmp_path / "out", error_file=tmp_path / "app.err.log")
    assert instance_log_paths(spec, 3) == (tmp_path / "out", tmp_path / "app.err.log")
    unmerged = _spec(
        tmp_path, out_file=tmp_path / "out", error_file=tmp_path / "app.err.log", merge_logs=False
    )
    assert instance_log_paths(unmerged, 3) == (tmp_path / "out-3", tmp_path / "app.err-3.log")


def test_truncate_one_app_or_all(tmp_path: Path) -> None:
    files = LogFiles()
    a = files.open_sink("a", _spec(tmp_path / "a"), 0)
    b = files.open_sink("b", _spec(tmp_path / "b"), 0)
    for sink in (a, b):
        sink.write("out", [b"old"])
        sink.write("err", [b"old"])
    files.truncate("a")
    assert a.out_path.read_bytes() == a.err_path.read_bytes() == b""
    assert b.out_path.read_bytes() == b"old\n"
    a.write("out", [b"new"])
    files.truncate()
    assert b.out_path.read_bytes() == b.err_path.read_bytes() == b""
    b.write("err", [b"new"])
    files.close()
    assert b.err_path.read_bytes() == b"new\n"
    assert a.out_path.read_bytes() == b""


def test_truncate_failure_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_truncate(fd: int, length: int) -> None:
        raise OSError(5, "Input/output error")

    files = LogFiles()
    sink = files.open_sink("a", _spec(tmp_path), 0)
    monkeypatch.setattr("supervisor_core.logs._writer.os.ftruncate", no_truncate)
    with pytest.raises(LogError, match=r"point-tron-out\.log: cannot truncate"):
        files.truncate("a")
    monkeypatch.undo()
    sink.close()


def test_reopen_all_after_external_logrotate(tmp_path: Path) -> None:
    files = LogFiles(check_interval=3600)
    sink = files.open_sink("a", _spec(tmp_path), 0)
    sink.write("out", [b"before"])
    moved = sink.out_path.with_name("point-tron-out.log.1")
    sink.out_path.rename(moved)
    sink.write("out", [b"still to the moved file"])
    files.reopen_all()
    sink.write("out", [b"after"])
    files.close()
    assert moved.read_bytes() == b"before\nstill to the moved file\n"
    assert sink.out_path.read_bytes() == b"after\n"


def test_rotation_settings_come_from_the_spec(tmp_path: Path) -> None:
    files = LogFiles()
    sink = files.open_sink("a", _spec(tmp_path, max_size=30, max_files=2, compress=True), 0)
    for i in range(10):
        sink.write("out", [b"line %d of twenty.." % i])
    files.close()
    rotated = rotated_files(sink.out_path)
    assert len(rotated) == 2
    assert all(p.name.endswith(".log.gz") for p in rotated)


def test_errors_are_reported_through_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[str] = []
    files = LogFiles(on_error=errors.append, check_interval=0)
    sink = files.open_sink("a", _spec(tmp_path), 0)

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("supervisor_core.logs._writer.os.write", full)
    sink.write("out", [b"x", b"y"])
    monkeypatch.undo()
    writer = files.writer(sink.out_path)
    assert writer is not None
    assert writer.dropped_lines == 2
    files.close()
    assert len(errors) == 1
    assert "point-tron-out.log" in errors[0]


def test_sink_closed_after_logfiles_close_is_harmless(tmp_path: Path) -> None:
    files = LogFiles()
    sink = files.open_sink("a", _spec(tmp_path), 0)
    files.close()
    sink.close()
    sink.write("out", [b"ignored"])
    assert sink.out_path.read_bytes() == b""


CHILD = r"""
import os, sys
for i in range(20000):
    sys.stdout.write(f"out {i}\n")
    if i % 1000 == 0:
        sys.stderr.write(f"err {i}\n")
sys.stdout.write("no newline at the end")
"""


@pytest.mark.anyio
async def test_real_child_through_pump_and_sink(tmp_path: Path) -> None:
    files = LogFiles(clock=lambda: 1_800_000_000.0)
    sink = files.open_sink(
        "child", _spec(tmp_path, date_format=UtcSeconds(), max_size=50_000, max_files=100), 0
    )
    async with await anyio.open_process([sys.executable, "-c", CHILD]) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump_lines, proc.stdout, lambda lines: sink.write("out", lines))
                tg.start_soon(pump_lines, proc.stderr, lambda lines: sink.write("err", lines))
            assert await proc.wait() == 0
    sink.close()
    prefix = b"2027-01-15T08:00:00Z "
    out = b"".join(p.read_bytes() for p in [*rotated_files(sink.out_path), sink.out_path])
    expected = [b"out %d" % i for i in range(20000)] + [b"no newline at the end"]
    assert out.splitlines() == [prefix + line for line in expected]
    assert len(rotated_files(sink.out_path)) > 3
    errs = sink.err_path.read_bytes().splitlines()
    assert errs == [prefix + b"err %d" % i for i in range(0, 20000, 1000)]
