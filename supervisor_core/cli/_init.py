"""``ptm init``: write a commented ``ecosystem.toml`` to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from supervisor_core.errors import ConfigError, PtmError

__all__ = ["ECOSYSTEM_TEMPLATE", "FILE_NAME", "write_template"]

FILE_NAME: Final = "ecosystem.toml"

ECOSYSTEM_TEMPLATE: Final = """\
# ecosystem.toml: the apps ptm runs, written by `ptm init`. Edit it, then:
#   ptm start ecosystem.toml     start (or update) these apps in the background daemon
#   ptm run ecosystem.toml       or supervise them in the foreground (containers, systemd)
#   ptm list                     see them
#
# Only `name` and `script` (or `command`) are required. A commented key shows its default
# (or, where it says "default:", an example): remove the `#` to change it.
# Sizes are bytes or "512K", "200M", "1G" (powers of 1024); durations are milliseconds or
# "100ms", "10s", "5m", "1h". Every key is described in ptm's docs/ecosystem.md.

# [defaults]                     # keys here apply to every [[apps]] entry, for example:
# kill_timeout = "8s"

[[apps]]
name = "app"                     # names its log files; `ptm stop app`, `ptm logs app`
script = "app.py"                # a .py file, a path, or a program on PATH
#   (or, instead of script: command = "gunicorn app:app", one command line with its arguments)
args = []                        # a list, or one string split like a shell would
# cwd = "."                      # relative to this file's folder
# interpreter = "python3"        # default: for .py, the Python that runs ptm
# interpreter_args = []          # for the interpreter, before the script (PM2's node_args)
# instances = 1                  # a number, or "max" (one per CPU)
# exec_mode = "fork"             # "cluster": the instances share one socket ([apps.listen])
# increment_var = "PORT"         # default: none; instance N gets env's PORT plus N

# autostart = true               # false: registered, but started only by `ptm start app`
# user = "www-data"              # default: the daemon's user (another needs a root daemon)
# group = "www-data"             # default: the user's own group

# Restarts
# autorestart = true             # start it again when it exits
# stop_exit_codes = []           # exit codes that mean "done, do not restart", e.g. [0]
# max_restarts = 16              # unstable restarts in a row before the app is "errored"
# min_uptime = "1s"              # a run shorter than this is an unstable restart
# restart_delay = "0s"           # wait before each restart
# exp_backoff_restart_delay = "100ms"  # default: off; the delay doubles per unstable restart
# cron_restart = "0 3 * * *"     # default: none; restart on a cron schedule
# watch = false                  # true, or a list of paths: restart when a file changes
# ignore_watch = ["logs"]        # default: []; paths the watch leaves alone

# Memory
# max_memory_restart = "512M"    # default: no limit; restart when the process tree's RSS exceeds it
# memory_check_interval = "1s"   # how often memory is sampled

# Stopping
# kill_signal = "SIGTERM"        # asks the app to stop
# kill_timeout = "5s"            # then SIGKILL to its whole process group

# Readiness
# wait_ready = false             # true: "online" only once the health check passes
# listen_timeout = "3s"          # how long wait_ready waits

# Logs
# out_file = "logs/app-out.log"       # default: $PTM_HOME/logs/app-out.log
# error_file = "logs/app-error.log"   # default: $PTM_HOME/logs/app-error.log
# merge_logs = true              # instances share one pair of files
# log_date_format = "YYYY-MM-DDTHH:mm:ss.SSSZ"   # "" = no timestamps
# log_file_max_size = "10M"      # rotate when a file reaches this size
# log_file_max_files = 10        # rotated files kept per log
# log_compress = false           # gzip rotated files
# log_compress_delay = 0         # newest rotated files left plain (delaycompress: 1)
# log_rotate_interval = "daily"  # also rotate each local day, or "hourly"; default: by size only
# log_file_mode = "0640"         # mode of new log files, exactly (the umask does not apply)

[apps.env]                       # the app's environment variables (values are strings)
LOG_LEVEL = "info"
# PORT = "8000"                  # (for increment_var above)

# [apps.env_production]          # on top of env with `ptm start ecosystem.toml --env production`
# LOG_LEVEL = "warning"

# [apps.health_check]            # default: none; polled, the app restarted after `failures` misses
# url = "http://127.0.0.1:8000/health"
# interval = "10s"
# timeout = "2s"
# failures = 3

# [apps.listen]                  # with exec_mode = "cluster" only: the socket ptm binds and shares
# port = 8000
# host = "127.0.0.1"

# [[notify]]                     # default: none; tell someone when something happens
# events = ["crash", "errored", "memory", "health"]   # also "restart"
# webhook = "http://127.0.0.1:9000/alerts"            # POST the event as JSON
#   (instead of webhook, command = a program that reads the event JSON on stdin)
"""


def write_template(folder: Path, *, force: bool) -> Path:
    """Write :data:`ECOSYSTEM_TEMPLATE` as ``folder/ecosystem.toml`` and return its path.

    An existing file is left alone (:class:`ConfigError` naming it) unless ``force``.
    """
    path = folder / FILE_NAME
    try:
        with open(path, "w" if force else "x", encoding="utf-8") as file:
            file.write(ECOSYSTEM_TEMPLATE)
    except FileExistsError:
        raise ConfigError(
            "already exists; edit it, or use --force to overwrite it", file=str(path)
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a directory", file=str(path)) from None
    except OSError as exc:
        raise PtmError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
