"""``ptm start``: a file, a script (with PM2's flags) or known apps; then the wait.

``ptm start FILE|SCRIPT`` sends this shell's environment (the apps inherit it under their
``env``) and returns once every instance it started is ``online`` and has stayed up for its
``min_uptime`` (with ``wait_ready``: is ready). An instance that exits first, is errored, or
is still not up by the deadline makes it exit 1, naming ``name#instance`` and printing the last
lines of its error log. ``--no-wait`` returns as soon as the daemon has started them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supervisor_core.cli._commands import _check_online, connect, print_table, say
from supervisor_core.cli._startargs import SCRIPT_FLAGS, given_script_flags, script_entry

if TYPE_CHECKING:
    from supervisor_core.client import Client

__all__ = ["Failure", "checked_entry", "start", "wait_started"]

POLL = 0.1
"""Seconds between two looks at the instances while waiting."""
GRACE = 15.0
"""Seconds an instance may take to come online (besides ``listen_timeout`` and
``min_uptime``) before ``ptm start`` gives up on it: spawning on a loaded machine."""
ERROR_LINES = 15
"""Lines of the error log printed for an instance that failed."""


def start(args: argparse.Namespace) -> int:
    from supervisor_core.config import file_problem, is_ecosystem_file
    from supervisor_core.errors import ApiError, ConfigError

    target: str = args.target
    given_script = given_script_flags(args)
    file_only = {"--only": args.only, "--env": args.env}
    given_file = [flag for flag, value in file_only.items() if value is not None]
    caller_env = dict(os.environ)
    since = time.time()

    if is_ecosystem_file(target):  # never started as a script (ecosystem.config.js...)
        if given_script:
            raise ConfigError(f"{', '.join(given_script)}: only for a script, not a file")
        problem = file_problem(target)  # a folder, a FIFO: said here, the daemon never reads it
        if problem is not None:
            raise problem
        only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
        with connect() as client:
            answer = client.start_ecosystem(
                target, only=only, env=args.env, caller_env=caller_env, update_env=args.update_env
            )
            return _report_start(client, answer, wait=not args.no_wait, since=since)

    if given_file:
        raise ConfigError(
            f"{', '.join(given_file)}: only for an ecosystem file"
            " (*.toml, or PM2's ecosystem.config.js, *.json, *.yaml)"
        )
    as_script = given_script or args.script_args is not None
    if os.path.isfile(target) or (as_script and _on_path(target, caller_env)):
        with connect() as client:
            return _start_script(client, args, caller_env, since)
    if given_script:
        raise ConfigError("no such script (nor a program on PATH)", file=target)
    with connect() as client:
        try:
            answer = client.start(target, update_env=caller_env if args.update_env else None)
        except ApiError as exc:
            if exc.kind != "unknown_app":
                raise
            if _on_path(target, caller_env):  # not an app: a program, as a file's script
                return _start_script(client, args, caller_env, since)
            raise ApiError(
                f"{exc} (and no file or program on PATH named {target!r})",
                status=exc.status,
                kind=exc.kind,
            ) from None
        rows = answer.get("processes", [])
        started = answer.get("started", list(dict.fromkeys(str(r.get("name")) for r in rows)))
        say(f"started {', '.join(started) or 'nothing'}")
        if answer.get("running"):
            say(f"already running: {', '.join(answer['running'])}")
        print_table(client)
        return _check_online(rows)


def _on_path(target: str, caller_env: Mapping[str, str]) -> bool:
    """A program on the caller's PATH, which ``ptm start`` runs as a file's ``script`` would."""
    import shutil

    return os.sep not in target and shutil.which(target, path=caller_env.get("PATH")) is not None


def _start_script(
    client: Client, args: argparse.Namespace, caller_env: Mapping[str, str], since: float
) -> int:
    entry = checked_entry(args, caller_env)
    answer = client.start_app(entry, os.getcwd(), caller_env=caller_env, update_env=args.update_env)
    return _report_start(client, answer, wait=not args.no_wait, since=since)


def checked_entry(args: argparse.Namespace, caller_env: Mapping[str, str]) -> dict[str, Any]:
    """The script's ``[[apps]]`` table, checked here by the compiler the daemon uses (with the
    same environment), so that a bad flag reads like the file key: ``--restart-delay: ...``."""
    from pathlib import Path

    from supervisor_core.config import build_app
    from supervisor_core.errors import ConfigError

    entry = script_entry(args)
    try:
        build_app(entry, base_dir=Path.cwd(), caller_env=caller_env)
    except ConfigError as exc:
        key = (exc.key or "").removeprefix("apps[0].")
        top = key.split(".")[0].split("[")[0]
        if top == "script":
            raise ConfigError(exc.reason, file=args.target) from None
        flag = SCRIPT_FLAGS.get(top)
        if flag is None:
            raise
        raise ConfigError(exc.reason, key=flag, value=exc.value, has_value=exc.has_value) from None
    return entry


def _report_start(client: Client, answer: Mapping[str, Any], *, wait: bool, since: float) -> int:
    for warning in answer.get("warnings") or []:
        print(f"ptm: warning: {warning}", file=sys.stderr)
    started = answer.get("started") or []
    restarted = answer.get("restarted") or []
    if started:
        say(f"started {', '.join(started)}")
    if restarted:
        say(f"restarted {', '.join(restarted)} (already known: new settings applied)")
    rows = answer.get("processes") or []
    if not wait:
        print_table(client)
        return _check_online(rows)
    failure = wait_started(client, rows, since=since)
    print_table(client)
    if failure is None:
        return 0
    _print_failure(client, failure)
    return 1


# -- waiting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """An instance ``ptm start`` started that did not come up."""

    name: str
    instance: int
    reason: str
    error_file: str | None


@dataclass(frozen=True)
class _Rule:
    min_uptime: float
    wait_ready: bool
    listen_timeout: float
    autorestart: bool = True
    stop_exit_codes: frozenset[int] = frozenset()


def _rule(spec: Mapping[str, Any]) -> _Rule:
    return _Rule(
        min_uptime=float(spec.get("min_uptime_s") or 0.0),
        wait_ready=bool(spec.get("wait_ready")),
        listen_timeout=float(spec.get("listen_timeout_s") or 0.0),
        autorestart=spec.get("autorestart") is not False,
        stop_exit_codes=frozenset(int(c) for c in spec.get("stop_exit_codes") or ()),
    )


def wait_started(
    client: Client,
    rows: Sequence[Mapping[str, Any]],
    *,
    since: float,
    grace: float = GRACE,
) -> Failure | None:
    """Wait until every instance of ``rows`` (the rows a start answered, those that should
    run) is online and has stayed up for its app's ``min_uptime`` (is ready, with
    ``wait_ready``); the first that fails instead, or ``None``. ``since`` is when the start
    was asked for (wall clock): runs that began before it are not this start's."""
    first = {(str(r["name"]), int(r["instance"])): r for r in rows if r.get("desired") == "running"}
    if not first:
        return None
    names = list(dict.fromkeys(name for name, _ in first))
    rules = {name: _rule(client.describe(name).get("spec") or {}) for name in names}
    longest = max(
        (r.listen_timeout if r.wait_ready else 0.0) + r.min_uptime for r in rules.values()
    )
    deadline = time.monotonic() + longest + grace
    count = len(first)
    if all(r.wait_ready for r in rules.values()):
        what = "ready"
    else:
        what = f"up for min_uptime ({max(r.min_uptime for r in rules.values()):g} s)"
    plural = "s" if count != 1 else ""
    say(f"waiting for {count} instance{plural} to be {what}; --no-wait skips this")
    pending = dict(first)
    while True:
        now = {(str(r["name"]), int(r["instance"])): r for r in client.processes()}
        for key, before in list(pending.items()):
            row = now.get(key)
            verdict = _judge(before, row, rules[key[0]])
            if verdict is True:
                del pending[key]
            elif verdict is False and row is not None:  # restarted by a command: its new run
                pending[key] = row
                rule = rules[key[0]]
                wait = (rule.listen_timeout if rule.wait_ready else 0.0) + rule.min_uptime
                deadline = max(deadline, time.monotonic() + wait + grace)
            elif isinstance(verdict, str):
                if row is None or row.get("desired") == "stopped":  # deleted, or stopped
                    return Failure(key[0], key[1], verdict, before.get("error_file"))
                reason = _last_end(client, key, rules[key[0]], since) or verdict
                return Failure(key[0], key[1], reason, row.get("error_file"))
        if not pending:
            return None
        if time.monotonic() > deadline:
            key, before = next(iter(pending.items()))
            status = (now.get(key) or before).get("status")
            return Failure(
                key[0],
                key[1],
                f"still {status} {longest + grace:g} s after ptm start",
                before.get("error_file"),
            )
        time.sleep(POLL)


# Restarts asked for by a command or a driver, not caused by the app: a start waiting for an
# instance that one of them restarts (a second `ptm start` of the file, `ptm restart`, a file
# change) waits for the new run instead of calling the old one's end a failure.
_ASKED = ("manual", "watch", "cron")


def _judge(
    before: Mapping[str, Any], row: Mapping[str, Any] | None, rule: _Rule
) -> bool | str | None:
    """True: up; a text: why it failed; None: not decided yet; False: restarted by a
    command meanwhile (``row`` is the new run to wait for)."""
    if row is None:
        return "was deleted while ptm start waited"
    if row.get("desired") == "stopped":
        return "was stopped while ptm start waited"
    status = row.get("status")
    code = row.get("exit_code")
    exited = f"exited with code {code}" if code is not None else "exited"
    if status == "errored":
        return f"is errored ({exited}; restarted {row.get('restarts')} times)"
    restarted = int(row.get("restarts") or 0) > int(before.get("restarts") or 0)
    if restarted and row.get("last_restart_reason") in _ASKED:
        return False
    if not restarted and (
        status == "stopping"
        # A command's restart passes through stopped (its count grows as the new run
        # starts); an app that ends by itself stays stopped only without autorestart or
        # with one of its stop_exit_codes.
        or (status == "stopped" and rule.autorestart and code not in rule.stop_exit_codes)
    ):
        return None  # a restart on its way: its reason decides, once counted
    if restarted or status in ("waiting restart", "stopped"):
        return f"{exited} before it had been up for min_uptime ({rule.min_uptime:g} s)"
    if status != "online":
        return None
    if rule.wait_ready:
        return True
    return float(row.get("uptime_s") or 0.0) >= rule.min_uptime or None


def _last_end(client: Client, key: tuple[str, int], rule: _Rule, since: float) -> str | None:
    """How the instance's first run since ``since`` ended, from its run history (the truth
    about an exit that a poll may have missed: a readiness timeout, a spawn failure, a
    signal). The daemon writes the history a moment after the fact: wait up to a second."""
    from supervisor_core.errors import ClientError

    began = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(since)))  # as the API writes
    deadline = time.monotonic() + 1.0
    while True:
        try:
            runs = client.describe(key[0]).get("runs") or []
        except ClientError:
            return None
        ended = [
            run
            for run in runs
            if run.get("instance") == key[1]
            and run.get("ended_at")
            and str(run.get("started_at")) >= began
        ]
        if ended:
            break
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL)
    last = ended[-1]  # newest first: the first run since the start
    why = last.get("end_reason")
    if why == "not ready":
        return f"was not ready within listen_timeout ({rule.listen_timeout:g} s)"
    if why == "spawn failed":
        return f"could not be started: {last.get('error')}"
    if last.get("signal") is not None:
        how = f"was killed by signal {last['signal']}"
    elif last.get("exit_code") is not None:
        how = f"exited with code {last['exit_code']}"
    else:
        how = "exited"
    if why not in (None, "crash"):
        return f"{how} ({why})"
    if rule.wait_ready:
        return f"{how} before it was ready"
    return f"{how} before it had been up for min_uptime ({rule.min_uptime:g} s)"


def _print_failure(client: Client, failure: Failure) -> None:
    from supervisor_core.errors import ClientError

    label = f"{failure.name}#{failure.instance}"
    print(f"ptm: {label} did not start: {failure.reason}", file=sys.stderr)
    lines: list[str] = []
    deadline = time.monotonic() + 1.0
    try:
        while True:  # the last lines may still be on their way from the pipe to the file
            found = client.logs(failure.name, lines=ERROR_LINES, stream="err")
            lines = [str(x.get("line")) for x in found if x.get("instance") == failure.instance]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(POLL)
    except ClientError as exc:
        print(f"ptm: cannot read its error log: {exc}", file=sys.stderr)
        return
    where = failure.error_file or "its error log"
    if not lines:
        print(f"ptm: {where} is empty; see: ptm logs {failure.name} --nostream", file=sys.stderr)
        return
    print(f"ptm: the last lines of {where}:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    sys.stderr.flush()
