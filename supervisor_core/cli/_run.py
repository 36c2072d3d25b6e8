"""``ptm run``: the supervisor in the foreground (what pm2-runtime is for PM2)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

import anyio

from supervisor_core._info import StateEvent
from supervisor_core._supervisor import Supervisor
from supervisor_core.config import AppSpec, load_ecosystem, ptm_home
from supervisor_core.errors import ConfigError
from supervisor_core.notify import Notifier
from supervisor_core.process import CgroupTree, stop_left_run, use_pidfd_child_watcher

ORPHAN_KILL_TIMEOUT = 5.0
"""How long an orphan gets to end on SIGTERM before SIGKILL."""

_COLORS = ("36", "32", "35", "33", "34", "96", "92", "95")


def use_color(stream: TextIO, disabled: bool) -> bool:
    return not disabled and "NO_COLOR" not in os.environ and stream.isatty()


class Printer:
    """Prints output lines as ``name | line`` and state changes as ``[ptm] ...``."""

    def __init__(self, apps: list[AppSpec], color: bool) -> None:
        width = max(
            (len(self._label(a.name, a.instances - 1, a.instances)) for a in apps), default=0
        )
        self._width = width
        self._many = {a.name: a.instances > 1 for a in apps}
        self._color = (
            {a.name: _COLORS[i % len(_COLORS)] for i, a in enumerate(apps)} if color else {}
        )
        self._out = sys.stdout.buffer
        self._err = sys.stderr.buffer
        self._gone: set[int] = set()
        """The streams a write failed on (a closed terminal: EIO; a closed pipe: EPIPE). They
        are not written to again; the apps' lines still reach their log files."""

    @staticmethod
    def _label(name: str, instance: int, count: int) -> str:
        return f"{name}:{instance}" if count > 1 else name

    def _prefix(self, app: str, instance: int) -> bytes:
        label = f"{app}:{instance}" if self._many.get(app) else app
        text = f"{label:<{self._width}} | "
        code = self._color.get(app)
        if code:
            text = f"\x1b[{code}m{text}\x1b[0m"
        return text.encode()

    def output(self, app: str, instance: int, stream: str, lines: list[bytes]) -> None:
        prefix = self._prefix(app, instance)
        target = self._out if stream == "out" else self._err
        self._write(target, b"".join(prefix + line + b"\n" for line in lines))

    def notice(self, text: str) -> None:
        self._ptm(text)

    def event(self, event: StateEvent) -> None:
        label = f"{event.app}:{event.instance}"
        text = f"{label} {event.status}"
        if event.status == "online" and event.pid is not None:
            text += f" (pid {event.pid})"
        elif event.status in ("waiting restart", "errored", "stopped"):
            details = []
            if event.exit_code is not None:
                details.append(f"exit code {event.exit_code}")
            if event.signal is not None:
                details.append(f"killed by {signal.Signals(event.signal).name}")
            if event.status == "waiting restart" and event.delay is not None:
                details.append(f"restart in {event.delay:g}s")
            if event.status == "errored":
                details.append("too many unstable restarts")
            if details:
                text += f" ({', '.join(details)})"
        elif event.reason and event.status in ("stopping", "launching"):
            text += f" ({event.reason})"
        self._ptm(text)

    def _ptm(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._write(self._out, f"[ptm {stamp}] {text}\n".encode())

    def _write(self, target: BinaryIO, data: bytes) -> None:
        if id(target) in self._gone:
            return
        try:
            target.write(data)
            target.flush()
        except OSError:
            self._gone.add(id(target))


def select_apps(apps: tuple[AppSpec, ...], only: str | None, source: str) -> list[AppSpec]:
    if not only:
        return list(apps)
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    names = {a.name for a in apps}
    for name in wanted:
        if name not in names:
            raise ConfigError(
                f"--only: no app named {name!r} (apps: {', '.join(sorted(names))})", file=source
            )
    return [a for a in apps if a.name in wanted]


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop every app and end ``ptm run``: Ctrl-C, SIGTERM (docker stop,
    systemd), and SIGHUP (the terminal or ssh session closed), which would otherwise end ptm
    run at once and leave its apps running unsupervised. A SIGHUP ignored by the caller
    (``nohup ptm run ...``) stays ignored."""
    wanted = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        wanted.append(signal.SIGHUP)
    return tuple(wanted)


async def stop_orphans(cgroups: CgroupTree, home: Path, printer: Printer) -> None:
    """Stop what a supervisor of this ``home`` killed with SIGKILL left running in its runs'
    cgroups: its apps ended with it (their kill_signal, from the kernel), but not their own
    children, which would hold the ports and files of the apps this ptm run starts. Those
    of another PTM_HOME are left to its own ptm."""
    for path, run_id in cgroups.orphaned():
        if not any(_home_of(pid) == str(home) for pid in CgroupTree.members(path)):
            continue
        await stop_left_run(path, run_id, ORPHAN_KILL_TIMEOUT)
        printer.notice(f"stopped what a killed ptm left running in its cgroup {path}")


def _home_of(pid: int) -> str | None:
    """The PTM_HOME in ``pid``'s environment (what ptm gave the app it descends from)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            data = file.read()
    except OSError:
        return None
    for entry in data.split(b"\0"):
        if entry.startswith(b"PTM_HOME="):
            return entry[9:].decode(errors="replace")
    return None


async def supervise(apps: list[AppSpec], printer: Printer, notifier: Notifier | None = None) -> int:
    """Run until a signal (exit 0) or until nothing is left running (1 if any errored)."""
    use_pidfd_child_watcher()
    notifier = notifier or Notifier((), on_notice=printer.notice)
    cgroups = CgroupTree.find()
    if cgroups is not None:
        await stop_orphans(cgroups, ptm_home(), printer)
        cgroups.sweep()  # what a killed ptm run or daemon could not remove
    # The notifier outlives the supervisor, to deliver the alerts of its last moments.
    async with (
        anyio.create_task_group() as alerts,
        Supervisor(
            ptm_home=ptm_home(),
            on_output=printer.output,
            on_notice=printer.notice,
            cgroups=cgroups,
            # As under the daemon: a ptm run killed by SIGKILL (or the OOM killer) takes its
            # apps with it (each gets its kill_signal), instead of leaving them as orphans.
            die_with_supervisor=True,
        ) as sup,
    ):
        await alerts.start(notifier.run, sup)
        with anyio.open_signal_receiver(*stop_signals()) as signals:
            async with sup.subscribe() as events, anyio.create_task_group() as tg:
                result: list[int] = []

                async def watch_events() -> None:
                    async for event in events:
                        printer.event(event)
                        infos = sup.processes()
                        if all(i.status in ("stopped", "errored") for i in infos):
                            while True:  # print the changes that led here
                                try:
                                    printer.event(events.receive_nowait())
                                except anyio.WouldBlock:
                                    break
                            errored = any(i.status == "errored" for i in infos)
                            result.append(1 if errored else 0)
                            tg.cancel_scope.cancel()
                            return

                async def watch_signals() -> None:
                    async for signum in signals:
                        printer.notice(f"{signal.Signals(signum).name}: stopping every app")
                        result.append(0)
                        tg.cancel_scope.cancel()
                        return

                tg.start_soon(watch_signals)
                for app in apps:
                    await sup.add(app)
                # Only now can "nothing is left running" be judged: an app that ended before
                # the next one was added must not end the run (its events wait in `events`).
                tg.start_soon(watch_events)
            # Leaving the Supervisor stops every app; a second signal meanwhile is ignored
            # (each app's kill_timeout bounds the wait).
            async with sup.subscribe() as events, anyio.create_task_group() as tg:

                async def print_rest() -> None:
                    async for event in events:
                        printer.event(event)

                tg.start_soon(print_rest)
                await sup.stop_all()
                tg.cancel_scope.cancel()
    return result[0] if result else 0


def run_command(args: argparse.Namespace) -> int:
    eco = load_ecosystem(args.ecosystem, env=args.env)
    for warning in eco.warnings:
        print(f"ptm: warning: {warning}", file=sys.stderr, flush=True)
    apps = select_apps(eco.apps, args.only, args.ecosystem)
    if not apps:
        raise ConfigError("no app to run", file=args.ecosystem)
    printer = Printer(apps, color=use_color(sys.stdout, args.no_color))
    cwd = eco.path.parent if eco.path is not None else None
    notifier = Notifier(eco.notify, on_notice=printer.notice, cwd=cwd)
    if os.getpid() == 1:
        child = fork_under_init()
        if child:
            return reap_as_init(child)
    return anyio.run(supervise, apps, printer, notifier)


# The signals the first process of a container passes on to ptm run: what `docker stop`,
# `docker kill -s`, Ctrl-C on `docker run -it` and a closed terminal send.
_FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def fork_under_init() -> int:
    """As the first process of a pid namespace (a container's PID 1), every orphan of the
    namespace is handed to ptm run when its parent exits, and only PID 1 can reap it: the
    supervisor, which awaits its own children one by one, never did, and the zombies piled
    up at every restart until the container had no pid left. So PID 1 forks, as ``tini``
    does: the child (0 returned) supervises as usual; the parent (the child's pid returned)
    only reaps and passes signals on (:func:`reap_as_init`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # none lost meanwhile
    child = os.fork()
    if child:
        for signum in _FORWARDED:
            signal.signal(signum, _forward_to(child))
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return child


def _forward_to(child: int) -> Callable[[int, object], None]:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    return forward


def reap_as_init(child: int) -> int:
    """Reap every process that ends, until ``child`` (ptm run) has; its exit code (128 plus
    the signal that killed it). What is left when PID 1 exits, the kernel kills."""
    while True:
        try:
            pid, status = os.wait()  # a signal's handler runs, then the wait goes on
        except ChildProcessError:
            return 1
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
