"""The sampler's /proc reader against psutil's figures, on real process trees."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from supervisor_core.monitor import TreeSampler, _procfs, _sampler
from supervisor_core.process import CgroupTree

MIB = 1024 * 1024
DEADLINE = 20.0

# A child that holds 40 MiB, starts a grandchild holding 20 MiB, and says "ready" once both
# hold their memory; with "spin", the grandchild burns cpu until killed.
TREE = textwrap.dedent(
    """
    import subprocess, sys, time
    blob = b"x" * (40 * 1024 * 1024)
    spin = sys.argv[1] == "spin"
    code = (
        "import sys, time\\n"
        "blob = b'y' * (20 * 1024 * 1024)\\n"
        "print('ready', flush=True)\\n"
        + ("while True: pass\\n" if spin else "time.sleep(600)\\n")
    )
    kid = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert kid.stdout.readline() == b"ready\\n"
    print(kid.pid, flush=True)
    time.sleep(600)
    """
)


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    script = tmp_path / "tree.py"
    script.write_text(TREE)
    proc = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the script's own deadline: its readline of the kid
    if not line.strip().isdigit():
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise AssertionError(f"the tree did not start: {line!r}")
    return proc, int(line)


@pytest.fixture
def idle_tree(tmp_path: Path) -> Iterator[tuple[int, int]]:
    proc, kid = _start(tmp_path, "idle")
    try:
        yield proc.pid, kid
    finally:
        _end(proc, kid)


@pytest.fixture
def spinning_tree(tmp_path: Path) -> Iterator[tuple[int, int]]:
    proc, kid = _start(tmp_path, "spin")
    try:
        yield proc.pid, kid
    finally:
        _end(proc, kid)


def _end(proc: subprocess.Popen[bytes], kid: int) -> None:
    with_kid = psutil.Process(kid) if psutil.pid_exists(kid) else None
    if with_kid is not None and with_kid.ppid() == proc.pid:
        with_kid.kill()  # our grandchild: still parented by our child, so not a reused pid
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    if with_kid is not None:
        psutil.wait_procs([with_kid], timeout=DEADLINE)


def test_read_stat_matches_psutil(idle_tree: tuple[int, int]) -> None:
    for pid in idle_tree:
        handle = psutil.Process(pid)
        stat = _procfs.read_stat(pid)
        assert stat is not None
        times = handle.cpu_times()
        rss = handle.memory_info().rss
        assert abs(stat.rss_bytes - rss) <= 0.02 * rss
        assert abs(stat.cpu_seconds - (times.user + times.system)) <= 0.05
        started = psutil.boot_time() + stat.start_ticks / _procfs.CLOCK_TICKS
        assert abs(started - handle.create_time()) < 0.05


def test_read_stat_of_a_gone_process_is_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert _procfs.read_stat(proc.pid) is None


def test_tree_memory_is_the_rss_of_the_whole_tree_as_psutil_says(
    idle_tree: tuple[int, int],
) -> None:
    root, kid = idle_tree
    sampler = TreeSampler()
    sample = sampler.sample(root)
    assert sample is not None and sample.cpu_percent is None  # first sample
    assert set(sample.pids) == {root, kid}
    expected = sum(psutil.Process(pid).memory_info().rss for pid in (root, kid))
    assert abs(sample.memory_bytes - expected) <= 0.02 * expected
    assert sample.memory_bytes > 60 * MIB


def test_pss_matches_psutil_and_a_gone_process_has_none(idle_tree: tuple[int, int]) -> None:
    """The PSS a memory limit judges a forked tree by: psutil's figure, from the same file."""
    root = idle_tree[0]
    for pid in idle_tree:
        pss = _procfs.read_pss(pid)
        expected = psutil.Process(pid).memory_full_info().pss
        assert pss is not None and abs(pss - expected) <= 0.02 * expected
    sampler = TreeSampler()
    sample = sampler.sample(root)
    assert sample is not None
    shared_once = sampler.memory_of(sample)
    # Two interpreters that are not forks of each other share little: about the RSS sum.
    assert 60 * MIB < shared_once <= sample.memory_bytes
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert _procfs.read_pss(proc.pid) is None
    assert sampler.shared_once((proc.pid,)) == 0


def test_tree_cpu_percent_matches_the_cpu_time_used_between_samples(
    spinning_tree: tuple[int, int],
) -> None:
    root, kid = spinning_tree
    handles = [psutil.Process(root), psutil.Process(kid)]

    def cpu_seconds() -> float:
        return sum(sum(h.cpu_times()[:2]) for h in handles)

    sampler = TreeSampler()
    assert sampler.sample(root) is not None
    before, began = cpu_seconds(), time.monotonic()
    deadline = began + DEADLINE
    while cpu_seconds() - before < 0.5:  # the spinning grandchild uses 0.5 s of cpu
        assert time.monotonic() < deadline, "the grandchild never got the cpu"
    sample = sampler.sample(root)
    used, elapsed = cpu_seconds() - before, time.monotonic() - began
    assert sample is not None and sample.cpu_percent is not None
    expected = used / elapsed * 100
    assert abs(sample.cpu_percent - expected) <= max(0.15 * expected, 3.0), (sample, expected)


def test_the_cgroup_members_are_the_tree_when_the_root_is_one(
    idle_tree: tuple[int, int], tmp_path: Path
) -> None:
    root, kid = idle_tree
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    # What the kernel's cgroup.procs holds: one pid a line, in any order.
    (cgroup / "cgroup.procs").write_text(f"{kid}\n{root}\n")
    procs = _procfs.CgroupProcs(cgroup)
    try:
        assert _procfs.tree_pids(root, procs) == [root, kid]
        # Read again through the kept descriptor: without the root in it (not moved there),
        # the tree is walked.
        (cgroup / "cgroup.procs").write_text(f"{kid}\n")
        assert _procfs.tree_pids(root, procs) == [root, kid]
    finally:
        procs.close()
    assert _procfs.tree_pids(root, _procfs.CgroupProcs(tmp_path / "gone")) == [root, kid]
    only_root = tmp_path / "only"
    only_root.mkdir()
    (only_root / "cgroup.procs").write_text(f"{root}\n")
    sample = TreeSampler().sample(root, only_root)
    assert sample is not None and sample.pids == (root,)


def test_a_reused_pid_starts_its_cpu_again(spinning_tree: tuple[int, int]) -> None:
    root, kid = spinning_tree
    sampler = TreeSampler()
    assert sampler.sample(root) is not None
    seen = sampler._seen[kid]
    # As if kid's pid now named another process: its old cpu time must not count.
    sampler._seen[kid] = _sampler._Seen(seen.start_ticks - 1, 0.0, seen.at - 1000)
    sample = sampler.sample(root)
    assert sample is not None and sample.cpu_percent is not None
    assert sample.cpu_percent < 1000  # not (all its cpu time) / (1000 s)... x 100
    assert sampler._seen[kid].start_ticks == seen.start_ticks


def test_handles_leave_out_a_pid_that_names_another_process_now(
    idle_tree: tuple[int, int],
) -> None:
    root, kid = idle_tree
    sampler = TreeSampler()
    assert sampler.sample(root) is not None
    assert {h.pid for h in sampler.handles((root, kid))} == {root, kid}
    seen = sampler._seen[kid]
    sampler._seen[kid] = _sampler._Seen(seen.start_ticks + 1, seen.cpu_seconds, seen.at)
    assert [h.pid for h in sampler.handles((root, kid))] == [root]


def test_an_unreadable_stat_file_falls_back_to_psutil(
    idle_tree: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, kid = idle_tree

    def refused(pid: int) -> _procfs.ProcStat | None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_sampler, "read_stat", refused)
    monkeypatch.setattr(_sampler, "StatFile", refused)
    sampler = TreeSampler()
    sample = sampler.sample(root)
    assert sample is not None and set(sample.pids) == {root, kid}
    expected = sum(psutil.Process(pid).memory_info().rss for pid in (root, kid))
    assert abs(sample.memory_bytes - expected) <= 0.02 * expected
    again = sampler.sample(root)
    assert again is not None and again.cpu_percent is not None


def test_a_long_cgroup_procs_is_read_whole(tmp_path: Path) -> None:
    # More than the 2048 bytes that one read is trusted to hold whole.
    pids = list(range(100_000, 100_000 + 1000))
    (tmp_path / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in pids))
    procs = _procfs.CgroupProcs(tmp_path)
    try:
        assert procs.members() == pids
        assert procs.members() == pids  # again, through the kept descriptor
    finally:
        procs.close()


@pytest.mark.skipif(CgroupTree.find() is None, reason="no writable cgroup v2 hierarchy here")
def test_a_cgroup_read_empty_then_joined_shows_every_member() -> None:
    """A run's cgroup read before its process joined, then after it joined and forked:
    the kept descriptor, read again at offset 0 after a read that found nothing, sees every
    member (the kernel restarts its iterator)."""
    tree = CgroupTree.find()
    assert tree is not None
    cgroup = tree.create(f"test-procfs-{os.getpid()}")
    assert cgroup is not None
    # Like a run: its process joins the cgroup, then forks (the child is born in it).
    root = subprocess.Popen(
        ["sh", "-c", "read _; sleep 600 & exec sleep 600"], stdin=subprocess.PIPE
    )
    assert root.stdin is not None
    kid: int | None = None
    try:
        procs = _procfs.CgroupProcs(cgroup)
        assert procs.members() == []  # the run's process has not joined yet
        assert CgroupTree.add(cgroup, root.pid)
        root.stdin.write(b"go\n")
        root.stdin.close()
        deadline = time.monotonic() + DEADLINE
        while len(fresh := (cgroup / "cgroup.procs").read_text().split()) < 2:
            assert time.monotonic() < deadline, "the child was never born"
        kid = next(int(pid) for pid in fresh if int(pid) != root.pid)
        members = procs.members()
        assert members is not None and sorted(members) == sorted([root.pid, kid])
        assert _procfs.tree_pids(root.pid, procs)[0] == root.pid
    finally:
        if kid is not None:
            os.kill(kid, 9)  # our grandchild, still in our cgroup
        root.kill()
        root.wait()
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                os.rmdir(cgroup)
                break
            except OSError:
                assert time.monotonic() < deadline
