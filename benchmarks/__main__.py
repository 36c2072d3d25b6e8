"""Run every benchmark, one after the other, each in its own Python process.

    python -m benchmarks                  # every benchmarks/bench_*.py, in name order
    python -m benchmarks --only engine    # just bench_engine.py (repeatable)
    python -m benchmarks --quick          # fewer repetitions (sets PTM_BENCH_QUICK=1)
    python -m benchmarks --list           # the names, nothing run

Each module also runs alone (``python -m benchmarks.bench_engine``) and prints its own
markdown table. A module that fails is reported and the others still run; the exit status
is then 1. A missed target is a figure, not a failure: it does not change the exit status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._util import QUICK_ENV

PACKAGE_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"


def discover(directory: Path = PACKAGE_DIR) -> list[str]:
    """The benchmark module names (``bench_engine``, ...) in ``directory``, sorted."""
    return sorted(p.stem for p in directory.glob(f"{PREFIX}*.py") if p.is_file())


def select(available: list[str], only: list[str]) -> list[str]:
    """The modules named by ``--only`` (with or without ``bench_``), in ``available``'s order.

    Raises SystemExit with one line naming an unknown name and the known ones.
    """
    if not only:
        return available
    wanted: set[str] = set()
    for name in only:
        module = name.removesuffix(".py")
        if not module.startswith(PREFIX):
            module = PREFIX + module
        if module not in available:
            known = ", ".join(m.removeprefix(PREFIX) for m in available) or "none"
            raise SystemExit(f"benchmarks: --only {name!r}: no such benchmark (known: {known})")
        wanted.add(module)
    return [m for m in available if m in wanted]


def run_one(module: str, *, quick: bool, timeout: float) -> tuple[int, float]:
    """Run ``python -m benchmarks.<module>`` with this Python; its output goes straight to
    ours. Returns (exit status, seconds); a timeout counts as status 124."""
    env = dict(os.environ)
    if quick:
        env[QUICK_ENV] = "1"
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", f"benchmarks.{module}"], cwd=PACKAGE_DIR.parent, env=env
    )
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        status = 124
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    return status, time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run ptm's benchmarks and print their tables."
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (engine or bench_engine); may be given several times",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="stop a benchmark that runs longer than this (default 1800)",
    )
    args = parser.parse_args(argv)
    available = discover()
    if args.list:
        for module in available:
            print(module.removeprefix(PREFIX))
        return
    modules = select(available, args.only)
    failed: list[str] = []
    for module in modules:
        print(f"## {module}{' (quick)' if args.quick else ''}\n", flush=True)
        status, seconds = run_one(module, quick=args.quick, timeout=args.timeout)
        note = "" if status == 0 else f", FAILED with status {status}"
        print(f"\n_{module}: {seconds:.1f} s{note}_\n", flush=True)
        if status != 0:
            failed.append(module)
    if failed:
        print(f"benchmarks: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
