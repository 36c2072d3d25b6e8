"""JSON-lines logging for Point-Tron.

One JSON object per line: ``{"timestamp", "level", "logger", "message", ...extra}``. Records
below WARNING go to stdout, WARNING and above to stderr (so a supervisor's error log holds the
problems and nothing else), and all of them also to ``<LOG_DIR>/point-tron.log`` (rotated at
midnight, 30 kept; ``point-tron-N.log`` for instance N > 0) when ``LOG_DIR`` is set.
httpx's one line per HTTP request to the node (``HTTP Request: POST ...``, INFO in httpx) is
DEBUG here: at the default INFO a poll writes nothing unless something changes or fails. The
access log (``ACCESS_LOG=1``) is the ``point_tron.access`` logger, one INFO line per request
(see ``app.AccessLogMiddleware``).
Only ``main`` calls :func:`configure_logging`; library modules just use
``logging.getLogger(__name__)`` and pass structured fields with ``extra={"fields": {...}}``.

No line carries a token: a ``token=`` query parameter (uvicorn logs ``"WebSocket
/ws?token=..."`` on every connect) and anything shaped like a JWT are replaced by
``[redacted]`` in the finished line, message, fields and exception alike.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

__all__ = ["JsonFormatter", "configure_logging", "redact"]

DEMOTED_LOGGERS = ("httpx",)
"""Loggers whose INFO records are DEBUG here: a line per request to the node is noise."""

LOG_FILE_NAME = "point-tron.log"
_TOKEN_PARAM = re.compile(r"([?&](?:token|access_token|jwt)=)[^&\s\"'\\]+", re.IGNORECASE)
# header.payload.signature, base64url: every JWT's header starts with eyJ ('{"').
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """``text`` without token query parameters and JWTs."""
    return _JWT.sub("[redacted]", _TOKEN_PARAM.sub(r"\1[redacted]", text))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line; ``record.fields`` (a dict) is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(str(key), value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


class _InfoIsDebug(logging.Filter):
    """On a library's logger: its INFO records become DEBUG ones (and are dropped unless the
    logger is enabled for DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def configure_logging(
    level: str,
    log_dir: Path | None,
    *,
    log_name: str = LOG_FILE_NAME,
    stream: TextIO | None = None,
    err_stream: TextIO | None = None,
) -> list[logging.Handler]:
    """Route every logger (ours and uvicorn's) to JSON lines at ``level``: below WARNING to
    ``stream`` (stdout), WARNING and above to ``err_stream`` (stderr), and all of them to
    ``log_dir / log_name`` when ``log_dir`` is set (one file per instance: ``Settings.log_name``).

    Returns the handlers installed on the root logger (so tests can remove them).
    """
    formatter = JsonFormatter()
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(stream if stream is not None else sys.stdout)
    console.setFormatter(formatter)
    console.addFilter(_BelowWarning())
    handlers.append(console)
    errors = logging.StreamHandler(err_stream if err_stream is not None else sys.stderr)
    errors.setFormatter(formatter)
    errors.setLevel(logging.WARNING)
    handlers.append(errors)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.TimedRotatingFileHandler(
            log_dir / log_name, when="midnight", backupCount=30, encoding="utf-8", utc=True
        )
        file_handler.setFormatter(formatter)
        handlers.append(file_handler)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers propagate to the root; its access log is one line per request: off.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # aiosqlite logs every statement at DEBUG: far too chatty even for LOG_LEVEL=DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
    for name in DEMOTED_LOGGERS:
        library = logging.getLogger(name)
        for old_filter in list(library.filters):
            if isinstance(old_filter, _InfoIsDebug):
                library.removeFilter(old_filter)
        library.addFilter(_InfoIsDebug())
    return handlers
