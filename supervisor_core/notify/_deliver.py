"""Delivering one alert, once: POST it to a webhook, or pipe it into a command.

Neither function raises for a failed delivery: each returns an :class:`Outcome` saying what
happened, in one line fit for a notice. Retrying is the notifier's business.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio

from supervisor_core._version import __version__

if TYPE_CHECKING:  # httpx is imported when a webhook is used: the daemon stays small
    from supervisor_core._httpx import httpx

__all__ = [
    "COMMAND_TIMEOUT",
    "WEBHOOK_TIMEOUT",
    "Outcome",
    "post_webhook",
    "run_command",
    "webhook_client",
]

WEBHOOK_TIMEOUT: Final = 5.0
"""Seconds a webhook gets to answer (connecting included)."""
COMMAND_TIMEOUT: Final = 10.0
"""Seconds a command gets to finish; then its whole process group is killed."""
OUTPUT_LIMIT: Final = 4000
"""At most this many bytes of a command's output (or a webhook's answer) are kept."""
OUTPUT_GRACE: Final = 0.5
"""After a command exits, how long its last output may take to arrive."""


@dataclass(frozen=True)
class Outcome:
    """How one delivery went: ``detail`` is why it failed, or what a command printed."""

    ok: bool
    detail: str = ""


def _clip(data: bytes) -> str:
    text = data[:OUTPUT_LIMIT].decode("utf-8", "replace").strip()
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return text + (" ..." if len(data) > OUTPUT_LIMIT else "")


def webhook_client(timeout: float = WEBHOOK_TIMEOUT) -> httpx.AsyncClient:
    """The HTTP client a notifier posts with: no proxy or .netrc from the environment, no
    redirects followed, ``timeout`` for each step."""
    from supervisor_core._httpx import httpx

    return httpx.AsyncClient(
        trust_env=False,
        timeout=timeout,
        follow_redirects=False,
        headers={"user-agent": f"ptm/{__version__}"},
    )


async def post_webhook(
    client: httpx.AsyncClient, url: str, body: bytes, *, timeout: float = WEBHOOK_TIMEOUT
) -> Outcome:
    """POST ``body`` (JSON) to ``url``; any 2xx answer within ``timeout`` is a success."""
    from supervisor_core._httpx import httpx

    answer: httpx.Response | None = None
    with anyio.move_on_after(timeout):
        try:
            answer = await client.post(
                url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.TimeoutException:
            pass
        except httpx.HTTPError as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))
    if answer is None:
        return Outcome(False, f"no answer within {timeout:g}s")
    if not answer.is_success:
        said = _clip(answer.content)
        return Outcome(
            False,
            f"HTTP {answer.status_code} {answer.reason_phrase}" + (f": {said}" if said else ""),
        )
    return Outcome(True)


async def run_command(
    argv: Sequence[str],
    body: bytes,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Outcome:
    """Run ``argv`` with ``body`` on its standard input, in its own session; exit code 0
    within ``timeout`` is a success. Its output (stdout and stderr together) is the detail."""
    try:
        proc = await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except OSError as exc:
        where = f" in {str(cwd)!r}" if cwd is not None else ""
        return Outcome(False, f"cannot run {argv[0]!r}{where}: {exc.strerror or exc}")
    output = bytearray()
    collected = anyio.Event()
    finished = False
    try:
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_feed, proc, body)
                tg.start_soon(_collect, proc, output, collected)
                await proc.wait()
                # The last output; a background child it left may hold the pipe open.
                with anyio.move_on_after(OUTPUT_GRACE):
                    await collected.wait()
                tg.cancel_scope.cancel()
            finished = True
    finally:
        if not finished:  # too slow, or cancelled: nothing of it may stay behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await proc.aclose()
    said = _clip(bytes(output))
    if not finished:
        return Outcome(False, f"still running after {timeout:g}s: killed" + _also(said))
    code = proc.returncode
    if code != 0:
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return Outcome(False, how + _also(said))
    return Outcome(True, said)


def _also(said: str) -> str:
    return f"; output: {said}" if said else ""


async def _feed(proc: anyio.abc.Process, body: bytes) -> None:
    stdin = proc.stdin
    if stdin is None:
        return
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await stdin.send(body)
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await stdin.aclose()


async def _collect(proc: anyio.abc.Process, output: bytearray, done: anyio.Event) -> None:
    stdout = proc.stdout
    try:
        if stdout is None:
            return
        with contextlib.suppress(
            anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError
        ):
            while True:
                chunk = await stdout.receive()
                if len(output) <= OUTPUT_LIMIT:
                    output += chunk
    finally:
        done.set()
