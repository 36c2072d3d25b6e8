"""The daemon process: one per PTM_HOME, guarded by a lock on ``ptm.pid``.

``python -m supervisor_core.daemon`` (what ``ptm`` starts, detached, when a command needs a
daemon) or ``ptm daemon --foreground`` (systemd). Signals: SIGTERM/SIGINT stop every app
gracefully, then the daemon; SIGHUP reopens the app logs and ``daemon.log``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence

import anyio

from supervisor_core._fds import raise_descriptor_limit
from supervisor_core._home import Home
from supervisor_core._info import RunRecord
from supervisor_core._supervisor import Supervisor
from supervisor_core.daemon._api import create_api
from supervisor_core.daemon._loghub import LogHub
from supervisor_core.daemon._server import ApiServer, bind_socket
from supervisor_core.daemon._service import DaemonService
from supervisor_core.daemon._uvicorn import Config
from supervisor_core.errors import PtmError
from supervisor_core.process import CgroupTree, use_pidfd_child_watcher
from supervisor_core.store import open_state

__all__ = ["main", "serve"]

log = logging.getLogger("ptm.daemon")


def _reopen_daemon_log(home: Home) -> None:
    """After an external rotation of daemon.log: point stdout/stderr at a fresh file."""
    try:
        mode = os.fstat(2).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        return  # a terminal or a journal: nothing to reopen
    fd = os.open(home.daemon_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


async def _handle_signals(service: DaemonService, home: Home) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                _reopen_daemon_log(home)
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


async def serve(home: Home) -> None:
    """Run the daemon until asked to stop (signal or ``ptm kill``)."""
    use_pidfd_child_watcher()
    hub = LogHub()
    opened = await open_state(home.state_db)
    store = opened.store
    if opened.set_aside is not None:
        log.error(
            "%s: kept it as %s and started with a new one%s",
            opened.reason,
            opened.set_aside,
            f"; restoring {home.dump}" if home.dump.exists() else " (no dump.toml to restore)",
        )
    service: DaemonService | None = None

    def on_run(app: str, instance: int, run_id: str, record: RunRecord) -> None:
        if service is not None:
            service.on_run(app, instance, run_id, record)

    try:
        async with Supervisor(
            ptm_home=home.root,
            on_output=hub.publish,
            output_as_written=True,  # followers get each line as its log file has it
            on_notice=lambda text: log.warning("%s", text),
            on_run=on_run,
            die_with_supervisor=True,
            cgroups=CgroupTree.find(),
        ) as sup:
            service = DaemonService(home, sup, store)
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.write_runs)
                tg.start_soon(_handle_signals, service, home)
                await tg.start(service.run_notify)  # alerts listen before any app starts
                await service.restore()
                if opened.set_aside is not None and home.dump.exists():
                    await _resurrect_after_damage(service)
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
                log.info("stopping every app")
                await sup.stop_all()
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
            await store.close()


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
    parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    _parse_args(sys.argv[1:] if argv is None else argv)
    home = Home.from_env()
    home.create()
    os.chdir(home.root)  # never keep the folder of the first ptm command busy
    lock_fd = os.open(home.pid_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(lock_fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(lock_fd)
        print(f"ptm: a daemon is already running for {home.root} (pid {other})", file=sys.stderr)
        return 1
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    before, after = raise_descriptor_limit()
    if after != before:
        log.info("raised the open files limit from %d to %d", before, after)
    try:
        anyio.run(serve, home)
    except PtmError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            home.pid_file.unlink()
        os.close(lock_fd)
    log.info("daemon stopped")
    return 0
