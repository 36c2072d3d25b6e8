"""What ``ptm`` says to a command it does not have: what to use instead of a PM2 command, or the
closest ptm command. Imported only on that error path, so ``ptm list`` never loads it.

Every PM2 command of ``docs/coming-from-pm2.md`` is either a ptm command (or alias) or has its
line here (``tests/test_cli_unknown.py`` checks the page against both).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["pm2_hint", "unknown_command_message"]

_NO_STDIN = "ptm gives apps no stdin (/dev/null)"
_NO_NODE = "a Node IPC and inspector feature, which ptm does not have"
_NO_MODULES = (
    "ptm has no modules: log rotation (log_file_max_size, log_compress) and metrics"
    " (ptm metrics) are built in"
)
_NO_DEPLOY = (
    "ptm has no git deploy; ptm export writes the apps for systemd, Kubernetes or Compose"
    " (docs/deploy.md)"
)
_NO_PLUS = "PM2 Plus, PM2's hosted service; ptm has none (ptm metrics for Prometheus)"
_NO_STORE = (
    "ptm has no settings store; write the setting as a key of the app in its ecosystem file"
    " (max_restarts, restart_delay, max_memory_restart, ...: docs/ecosystem.md), then run"
    " ptm start FILE to apply it; an app started without a file takes new settings from"
    " ptm start SCRIPT --name NAME with all its flags (--max-restarts 5 ...)"
)

# PM2 command -> what to do with ptm instead (docs/coming-from-pm2.md, "Commands").
_PM2: dict[str, str] = {
    "l": "use ptm list (or ls, status)",
    "ps": "use ptm list (or ls, status)",
    "desc": "use ptm describe (or show, info)",
    "id": "use ptm list or ptm jlist: the id column is each process's id",
    "imonit": "use ptm monit",
    "dashboard": "use ptm monit",
    "dash": "use ptm monit",
    "dump": "use ptm save",
    "cleardump": "delete $PTM_HOME/dump.toml (docs/state.md)",
    "logrotate": (
        "ptm rotates logs itself: log_file_max_size, log_file_max_files, log_compress and"
        " log_rotate_interval in the ecosystem file (docs/logs.md)"
    ),
    "startOrRestart": "use ptm start FILE: an app already known is restarted",
    "startOrReload": "use ptm start FILE: an app already known is restarted",
    "startOrGracefulReload": "use ptm start FILE: an app already known is restarted",
    "updatePM2": "use ptm update",
    "deepUpdate": "use ptm update",
    "ecosystem": "use ptm init (a commented ecosystem.toml), or ptm import FILE",
    "report": "use ptm ping (the daemon's pid and version) and ptm metrics",
    "slist": "use ptm ping (the daemon's pid and version) and ptm metrics",
    "sysinfos": "use ptm ping (the daemon's pid and version) and ptm metrics",
    "send": _NO_STDIN,
    "attach": _NO_STDIN,
    "trigger": _NO_NODE,
    "inspect": _NO_NODE,
    "profile:cpu": _NO_NODE,
    "profile:mem": _NO_NODE,
    "set": _NO_STORE,
    "multiset": _NO_STORE,
    "get": _NO_STORE,
    "unset": _NO_STORE,
    "conf": _NO_STORE,
    "config": _NO_STORE,
    "install": _NO_MODULES,
    "uninstall": _NO_MODULES,
    "package": _NO_MODULES,
    "publish": _NO_MODULES,
    "deploy": _NO_DEPLOY,
    "pull": _NO_DEPLOY,
    "forward": _NO_DEPLOY,
    "backward": _NO_DEPLOY,
    "serve": "ptm is not a static file server",
    "expose": "ptm is not a static file server",
    "link": _NO_PLUS,
    "unlink": _NO_PLUS,
    "plus": _NO_PLUS,
    "register": _NO_PLUS,
    "login": _NO_PLUS,
    "logout": _NO_PLUS,
    "open": _NO_PLUS,
    "monitor": f"{_NO_PLUS}; ptm monit is the live view",
    "unmonitor": _NO_PLUS,
    "install-otel": _NO_PLUS,
    "autoinstall": "PM2's own set-up; ptm --help lists ptm's commands",
    "examples": "PM2's own; ptm --help lists ptm's commands",
    "create": "PM2's module template; ptm init writes an ecosystem.toml",
}


def pm2_hint(word: str) -> str | None:
    """What to use instead of PM2's command ``word``, or None when PM2 has no such command."""
    if word.startswith("module:"):
        return _NO_MODULES
    return _PM2.get(word)


def unknown_command_message(word: str, names: Iterable[str]) -> str:
    """The one line for ``ptm WORD`` when ``names`` (ptm's commands and aliases) lack it."""
    hint = pm2_hint(word)
    if hint is not None:
        return f"{word!r} is a PM2 command, not ptm's: {hint}"
    import difflib  # only on this error path: ptm list stays light

    close = difflib.get_close_matches(word, sorted(names), n=1, cutoff=0.6)
    if close:
        return f"unknown command {word!r}; did you mean {close[0]}?"
    return f"unknown command {word!r} (see: ptm --help)"
