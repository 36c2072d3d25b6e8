"""Reading one TOML table with typed converters and precise errors.

A converter is a plain function ``value -> T`` that raises :class:`ValueError` with a short
reason; :class:`Table` turns that into a :class:`ConfigError` naming the file, the key path and
the value. Unknown keys get a "did you mean" from the valid names (camelCase is translated to
snake_case first, and PM2's aliases point at ptm's name).
"""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from supervisor_core.config._units import parse_duration, parse_size
from supervisor_core.errors import ConfigError

__all__ = [
    "Table",
    "boolean",
    "command_line",
    "duration",
    "exit_codes",
    "http_url",
    "integer",
    "kill_signal",
    "positive_duration",
    "positive_size",
    "string",
    "string_list",
    "suggest",
]

T = TypeVar("T")

# PM2 names (and aliases) that ptm spells differently.
_PM2_ALIASES: Final = {
    "exec": "script",
    "exec_interpreter": "interpreter",
    "node_args": "interpreter_args",
    "out": "out_file",
    "output": "out_file",
    "out_log": "out_file",
    "error": "error_file",
    "err": "error_file",
    "err_file": "error_file",
    "err_log": "error_file",
    "combine_logs": "merge_logs",
    "cron": "cron_restart",
    "uid": "user",
    "gid": "group",
    "username": "user",
}

# PM2 options that ptm deliberately does not have.
_PM2_UNSUPPORTED: Final = frozenset(
    {
        "name_prefix",
        "namespace",
        "instance_var",
        "port",
        "kill_retry_time",
        "shutdown_with_message",
        "treekill",
        "watch_delay",
        "watch_options",
        "filter_env",
        "append_env_to_name",
        "log_file",
        "log",
        "disable_logs",
        "log_type",
        "time",
        "pid_file",
        "pid",
        "source_map_support",
        "disable_source_map_support",
        "vizion",
        "pmx",
        "automation",
        "trace",
        "disable_trace",
        "v8",
        "event_loop_inspector",
        "deep_monitoring",
        "io",
        "post_update",
        "force",
        "windowsHide",
    }
)

_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def suggest(key: str, valid: Collection[str]) -> str:
    """The message for an unknown ``key``: "unknown key" plus the best hint we have."""
    snake = _CAMEL_HUMP.sub("_", key).lower()
    if snake != key and snake in valid:
        return f"unknown key; did you mean {snake}?"
    for candidate in (key, snake):
        alias = _PM2_ALIASES.get(candidate)
        if alias is not None and alias in valid:
            return f"unknown key; did you mean {alias}? (PM2's {candidate} is {alias} in ptm)"
    if key in _PM2_UNSUPPORTED or snake in _PM2_UNSUPPORTED:
        return "unknown key; this PM2 option is not supported by ptm"
    import difflib  # only for a mistake: 0.2 MB the daemon need not hold

    close = difflib.get_close_matches(snake, sorted(valid), n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return "unknown key"


@dataclass(frozen=True)
class Table:
    """One TOML table at ``path`` ("apps[0]", "apps[0].health_check", "" for the top level).

    ``origins`` maps keys that came from elsewhere (``[defaults]``) to that table's path, so an
    error about a merged value names the place where it was written.
    """

    data: Mapping[str, Any]
    path: str
    file: str | None
    origins: Mapping[str, str] = field(default_factory=dict)

    def key_path(self, key: str) -> str:
        prefix = self.origins.get(key, self.path)
        return f"{prefix}.{key}" if prefix else key

    def error(
        self, key: str, message: str, *, value: object = None, has_value: bool = True
    ) -> ConfigError:
        return ConfigError(
            message, file=self.file, key=self.key_path(key), value=value, has_value=has_value
        )

    def missing(self, key: str, message: str = "required") -> ConfigError:
        return ConfigError(message, file=self.file, key=self.key_path(key))

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def convert(self, key: str, value: Any, converter: Callable[[Any], T]) -> T:
        """Convert a value read from ``key``; a :class:`ValueError` becomes a ConfigError."""
        try:
            return converter(value)
        except ValueError as exc:
            raise self.error(key, str(exc), value=value) from None

    def get(self, key: str, converter: Callable[[Any], T], default: T) -> T:
        if key not in self.data:
            return default
        return self.convert(key, self.data[key], converter)

    def optional(self, key: str, converter: Callable[[Any], T]) -> T | None:
        if key not in self.data:
            return None
        return self.convert(key, self.data[key], converter)

    def require(self, key: str, converter: Callable[[Any], T]) -> T:
        if key not in self.data:
            raise self.missing(key)
        return self.convert(key, self.data[key], converter)

    def table(self, key: str) -> Table | None:
        """The sub-table at ``key`` (``None`` when absent); anything else is an error."""
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a table", value=value)
        return Table(value, self.key_path(key), self.file)

    def check_keys(
        self,
        valid: Collection[str],
        *,
        also_valid: Callable[[str], bool] | None = None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        """Raise for the first key (in file order) that is not in ``valid``.

        ``refused`` maps keys that are real names but not allowed here to the reason.
        """
        for key in self.data:
            if refused and key in refused:
                raise self.missing(key, refused[key])
            if key in valid or (also_valid is not None and also_valid(key)):
                continue
            raise self.missing(key, suggest(key, valid))


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}")
        return value

    return convert


def string(value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def string_list(value: object) -> tuple[str, ...]:
    """A list of non-empty strings, or one string (a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("must be a string or a list of strings")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError("must be a list of non-empty strings")
    return tuple(value)


COMMAND_LINE_MAX = 131_072
"""The longest command line ptm splits from one string: Linux's limit for one exec argument
(MAX_ARG_STRLEN). ``shlex.split`` takes time in the square of a word's length (17 s for one
word of 1 MB), and a longer line is a list's job."""


def command_line(value: object) -> tuple[str, ...]:
    """A list of strings, or one string split like a POSIX shell would (no expansion)."""
    if isinstance(value, str):
        if len(value) > COMMAND_LINE_MAX:
            raise ValueError(
                f"a string of {len(value):,} characters; one string holds at most"
                f" {COMMAND_LINE_MAX:,} (give a longer command line as a list of words)"
            )
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split like a shell: {exc}") from None
    elif isinstance(value, list):
        if not all(isinstance(word, str) for word in value):
            raise ValueError("must be a string or a list of strings")
        words = list(value)
    else:
        raise ValueError("must be a string or a list of strings")
    return tuple(words)


def duration(value: object) -> float:
    return parse_duration(value)


def positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be more than 0")
    return seconds


def positive_size(value: object) -> int:
    size = parse_size(value)
    if size <= 0:
        raise ValueError("must be more than 0 bytes")
    return size


def kill_signal(value: object) -> signal.Signals:
    """``"SIGTERM"``, ``"TERM"``, ``"sigint"``... (a name; numbers differ between systems)."""
    if not isinstance(value, str):
        raise ValueError('must be a signal name such as "SIGTERM"')
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise ValueError('unknown signal; use a name such as "SIGTERM" or "SIGINT"') from None


def exit_codes(value: object) -> frozenset[int]:
    """A list of exit codes 0-255 (or one code, as PM2 allows)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("must be a list of exit codes (integers 0-255)")
    for code in value:
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
            raise ValueError("must be a list of exit codes (integers 0-255)")
    return frozenset(value)


def http_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http:// or https:// URL")
    try:
        # ``{instance}`` (health checks) stands for a number: check the URL with 0 there.
        parts = urlsplit(value.replace("{instance}", "0"))
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValueError("must be an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value
