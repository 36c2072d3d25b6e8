"""The daemon process: one per PTM_HOME, guarded by a lock on ``ptm.pid``.

``python -m supervisor_core.daemon`` (what ``ptm`` starts, detached, when a command needs a
daemon) or ``ptm daemon --foreground`` (systemd). Signals: SIGTERM/SIGINT stop every app
gracefully, then the daemon; SIGHUP reopens the app logs and ``daemon.log``. The daemon's own
log goes to ``daemon.log`` through a rotating writer (:mod:`supervisor_core.daemon._daemonlog`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

import anyio

from supervisor_core._fds import raise_descriptor_limit
from supervisor_core._home import Home
from supervisor_core._info import RunRecord
from supervisor_core._supervisor import Supervisor
from supervisor_core._version import __version__
from supervisor_core.daemon._api import create_api
from supervisor_core.daemon._config import read_daemon_config
from supervisor_core.daemon._daemonlog import DaemonLog
from supervisor_core.daemon._history import HISTORY_INTERVAL, HistoryKeeper
from supervisor_core.daemon._loghub import UPDATED, LogHub
from supervisor_core.daemon._metrics import CONTENT_TYPE, metrics_text
from supervisor_core.daemon._metrics_tcp import MetricsListener
from supervisor_core.daemon._server import ApiServer, adopt_socket, bind_socket
from supervisor_core.daemon._service import DaemonService
from supervisor_core.daemon._update import read_handover, reexec
from supervisor_core.daemon._uvicorn import Config
from supervisor_core.errors import ConfigError, PtmError
from supervisor_core.process import CgroupTree, use_pidfd_child_watcher
from supervisor_core.store import open_state

__all__ = ["main", "serve"]

log = logging.getLogger("ptm.daemon")


async def _handle_signals(service: DaemonService, daemon_log: DaemonLog | None) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                if daemon_log is not None:
                    daemon_log.reopen()
                service.reload_logs()
                log.info("SIGHUP: reopened the log files")
                continue
            log.info("%s: stopping every app, then the daemon", signal.Signals(signum).name)
            service.shutdown.set()


async def _resurrect_after_damage(service: DaemonService) -> None:
    try:
        done = await service.resurrect()
    except PtmError as exc:
        log.error("cannot restore %s: %s", service.home.dump, exc)
        return
    log.info("restored %d app(s) from %s", len(done["started"]), service.home.dump)


async def _update(
    service: DaemonService,
    hub: LogHub,
    server: ApiServer,
    served: anyio.Event,
    listener: socket.socket,
    lock_fd: int,
) -> None:
    """Become the installed version (see :mod:`._update`). Each ``ptm logs -f`` is told,
    and the server finishes what it is answering (the answer to ``ptm update`` among them)
    on a duplicate of the listening socket: connections that arrive meanwhile wait in its
    backlog for the new image."""
    with anyio.move_on_after(10):  # a start or stop under way ends first
        while service.sup.handover_blocker() is not None:  # noqa: ASYNC110 (a poll of state)
            await anyio.sleep(0.05)
    await hub.end(timeout=1, last=UPDATED)
    if not await service.run_writer.drain(timeout=2):
        log.warning("ptm update: some runs were not written to state.db in time")
    with contextlib.suppress(PtmError):  # the new image reads the finished minutes back
        await service.history.save_minutes()
    kept = os.dup(listener.fileno())
    server.request_exit()
    with anyio.move_on_after(3):
        await served.wait()
    log.info("re-executing as ptm %s", service.update_to)
    reexec(
        service.home, service.sup, listener_fd=kept, lock_fd=lock_fd, started_at=service.started_at
    )


async def serve(
    home: Home,
    daemon_log: DaemonLog | None = None,
    handover: dict[str, Any] | None = None,
    lock_fd: int = -1,
    previous: int | None = None,
) -> None:
    """Run the daemon until asked to stop (signal or ``ptm kill``) or to update; SIGHUP
    reopens ``daemon_log``. After an update, ``handover`` is what the previous image left
    (see :mod:`._update`); ``previous`` is the pid of a previous daemon that was killed."""
    use_pidfd_child_watcher()
    settings = read_daemon_config(home.daemon_config)
    hub = LogHub()
    service: DaemonService | None = None

    def scrape() -> bytes:
        if service is None:
            raise RuntimeError("the daemon is still starting")
        figures = {**service.log_figures(), "follower_lines_skipped": hub.skipped}
        return metrics_text(service.metric_rows(), figures)

    metrics: MetricsListener | None = None
    if settings.metrics_address is not None:
        host, port = settings.metrics_address
        metrics = MetricsListener(host, port, scrape, CONTENT_TYPE, settings.metrics_token)
        try:
            await metrics.start()
        except OSError as exc:
            raise PtmError(
                f'{home.daemon_config}: [daemon] metrics_address = "{host}:{port}": '
                f"cannot listen there: {exc.strerror or exc}"
            ) from None
        log.info("serving metrics on http://%s:%d/metrics", host, port)
    opened = await open_state(home.state_db)
    store = opened.store
    if opened.set_aside is not None:
        log.error(
            "%s: kept it as %s and started with a new one%s",
            opened.reason,
            opened.set_aside,
            f"; restoring {home.dump}" if home.dump.exists() else " (no dump.toml to restore)",
        )
    history = HistoryKeeper(store)  # its task reads the kept minutes back

    def on_run(app: str, instance: int, run_id: str, record: RunRecord) -> None:
        if service is not None:
            service.on_run(app, instance, run_id, record)

    cgroups = CgroupTree.find()
    for stale in cgroups.sweep() if cgroups is not None else ():
        log.info("removed %s: an empty run cgroup whose owner is gone", stale)
    try:
        sup = Supervisor(
            ptm_home=home.root,
            on_output=hub.publish,
            output_as_written=True,  # followers get each line as its log file has it
            on_notice=lambda text: log.warning("%s", text),
            on_run=on_run,
            die_with_supervisor=True,
            cgroups=cgroups,
            on_sample=history.on_sample,
            sample_interval=HISTORY_INTERVAL,
        )
        if handover is not None and handover["notify"] is not None:
            sup.adopt_notify_socket(*handover["notify"])  # the same path for the apps
        async with sup:
            service = DaemonService(home, sup, store, history)
            if handover is not None:
                service.started_at = float(handover["started_at"])
                service.reexecuted_at = float(handover["reexecuted_at"])
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.write_runs)
                tg.start_soon(history.run, service.rows)
                tg.start_soon(_handle_signals, service, daemon_log)
                await tg.start(service.run_notify)  # alerts listen before any app starts
                await service.restore(handover["apps"] if handover is not None else None, previous)
                if opened.set_aside is not None and home.dump.exists():
                    await _resurrect_after_damage(service)
                if handover is not None:  # the same socket: no connection was refused
                    listener = adopt_socket(int(handover["listener_fd"]))
                    log.info(
                        "updated from ptm %s to %s; every app carries on",
                        handover["from_version"],
                        __version__,
                    )
                else:
                    listener = bind_socket(home.socket)
                sockets: list[socket.socket] = [listener]
                config = Config(
                    create_api(service, hub),
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    timeout_graceful_shutdown=1,
                    http="h11",
                    ws="none",
                    loop="none",
                )
                server = ApiServer(config)
                server.count_connections(listener)
                server.keep_socket(home.socket)
                served = anyio.Event()

                async def run_server() -> None:
                    try:
                        await server.serve(sockets)
                    finally:
                        served.set()

                tg.start_soon(run_server)
                log.info("ptm daemon %d serving on %s", os.getpid(), home.socket)
                await service.shutdown.wait()
                if service.update_to is not None:
                    await _update(service, hub, server, served, listener, lock_fd)
                log.info("stopping every app")
                await sup.stop_all()
                with contextlib.suppress(PtmError):  # the minutes that ended since the last write
                    await history.save_minutes()
                # Every app's last lines are out: end the log streams cleanly (a streaming
                # answer still open when the server exits is cancelled mid-answer).
                if not await hub.end(timeout=2):
                    log.warning("%d log follower(s) did not take their last line", hub.followers)
                log.info("every app stopped; closing the socket")
                server.request_exit()
                with anyio.move_on_after(3):
                    await served.wait()
                for sock in sockets:
                    sock.close()
                tg.cancel_scope.cancel()
    finally:
        with contextlib.suppress(FileNotFoundError):
            home.socket.unlink()
        with anyio.CancelScope(shield=True):
            if metrics is not None:
                await metrics.close()
            await store.close()


def _pid_in(text: bytes) -> int | None:
    """The pid a pid file holds (None: empty, or not a pid)."""
    word = text.decode(errors="replace").strip()
    return int(word) if word.isdigit() else None


def _parse_args(argv: Sequence[str]) -> None:
    """``--help`` and mistakes; the usual command lines never load argparse."""
    if all(word == "--foreground" for word in argv):
        return
    import argparse

    parser = argparse.ArgumentParser(
        prog="ptm daemon", description="Run the ptm daemon (normally started by ptm itself)."
    )
    parser.add_argument(
        "--foreground",
        action="store_true",
        help="accepted for systemd units; the daemon never forks (ptm detaches it)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="serve nothing: stop what a daemon killed with SIGKILL left running (ptm kill)",
    )
    parser.parse_args(argv)


def _give_back(lock_fd: int, previous: int) -> None:
    """Put the killed daemon's pid back in the pid file: this daemon failed to start (a
    locked or full ``state.db``, ...), maybe before it stopped what that daemon left, and
    the next one finds those runs' cgroups by that pid."""
    text = f"{previous}\n".encode()
    with contextlib.suppress(OSError):
        os.pwrite(lock_fd, text, 0)
        os.ftruncate(lock_fd, len(text))


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--sweep"]:  # ptm kill, when the daemon was killed: see _sweep
        from supervisor_core.daemon._sweep import sweep_main

        return sweep_main(Home.from_env())
    _parse_args(words)
    home = Home.from_env()
    try:
        home.create()
    except ConfigError as exc:  # PTM_HOME is a file, too long, not writable...
        print(f"ptm: {exc}", file=sys.stderr)
        return 2
    os.chdir(home.root)  # never keep the folder of the first ptm command busy
    handover = read_handover()
    if handover is not None:  # ptm update: the previous image held the lock for us
        lock_fd = int(handover["lock_fd"])
    else:
        try:
            lock_fd = os.open(home.pid_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            print(f"ptm: {home.unusable(exc)}", file=sys.stderr)
            return 2
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(lock_fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(lock_fd)
        print(f"ptm: a daemon is already running for {home.root} (pid {other})", file=sys.stderr)
        return 1
    # A pid still in the file is the previous daemon's, killed (a stopped one removes it; one
    # that failed to start puts the killed one's back: _give_back).
    previous = None if handover is not None else _pid_in(os.pread(lock_fd, 32, 0))
    mine = f"{os.getpid()}\n".encode()
    try:  # written before the old pid is cut off: a full disk leaves the old pid whole
        os.pwrite(lock_fd, mine, 0)
        os.ftruncate(lock_fd, len(mine))
    except OSError as exc:  # a full disk
        os.close(lock_fd)
        print(f"ptm: {home.unusable(exc)}", file=sys.stderr)
        return 2
    daemon_log = DaemonLog.install(home)
    before, after = raise_descriptor_limit()
    if after != before:
        log.info("raised the open files limit from %d to %d", before, after)
    stopped = False
    try:
        anyio.run(serve, home, daemon_log, handover, lock_fd, previous)
        stopped = True
    except PtmError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        stopped = True
    finally:
        if stopped or previous is None:
            with contextlib.suppress(FileNotFoundError):
                home.pid_file.unlink()
        else:  # failed to start: the next daemon must still sweep what the killed one left
            _give_back(lock_fd, previous)
        os.close(lock_fd)
        log.info("daemon stopped")
        daemon_log.close()
    return 0
