"""The one background thread that gzips rotated logs, shared by every writer of the process.

One thread for all writers means two jobs never run at once: an app restarted with new
settings gets a new writer for the same file while the old writer's gzip may still run, and
both would otherwise gzip (or prune) the same rotated files together. Jobs run in the order
they were submitted. Closing a writer does not wait for its jobs (a big file takes seconds);
:meth:`~supervisor_core.logs.LogFiles.close` does, at shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

__all__ = ["Jobs", "submit"]

Report = Callable[[str], None]
log = logging.getLogger("supervisor_core.logs")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def submit(job: Callable[[], None]) -> Future[None]:
    """Run ``job`` in the gzip thread after every job submitted before it."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(1, thread_name_prefix="ptm-log-gzip")
        return _executor.submit(job)


class Jobs:
    """The compression jobs of one writer, and the errors they report.

    Errors wait in :attr:`errors` for the writer's thread to hand them to its ``on_error``;
    once :meth:`orphan` was called (the writer is closed) they go to the
    ``supervisor_core.logs`` logger, which the daemon writes to its own log.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.errors: deque[str] = deque()
        self._last: Future[None] | None = None
        self._lock = threading.Lock()
        self._orphaned = False

    def submit(self, job: Callable[[Report], None]) -> None:
        """Run ``job(report)`` in the gzip thread."""
        self._last = submit(lambda: self._run(job))

    @property
    def busy(self) -> bool:
        """Whether a job is queued or running."""
        return self._last is not None and not self._last.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every job; False if ``timeout`` passed first."""
        last = self._last  # jobs run in order: the last one ends after the others
        return last is None or bool(wait_for([last], timeout).done)

    def orphan(self) -> None:
        """From now on, report to the logger (the writer is closed)."""
        with self._lock:
            self._orphaned = True

    def report(self, message: str) -> None:
        """From the gzip thread: keep ``message`` for the writer, or log it once orphaned."""
        with self._lock:
            if not self._orphaned:
                self.errors.append(message)
                return
        log.warning("%s", message)

    def _run(self, job: Callable[[Report], None]) -> None:
        try:
            job(self.report)
        except Exception as exc:  # an exception left in the future would be lost
            self.report(f"log {self.name}: unexpected error while compressing: {exc!r}")
