"""An ecosystem file as systemd units: ``ptm export systemd``.

Per app, from the same compiled :class:`~supervisor_core.config.AppSpec` that ``ptm start``
runs: ``NAME.service`` (or, with ``instances > 1``, the template ``NAME@.service`` and
``NAME.target``, which wants every instance), ``NAME.socket`` for ``[apps.listen]``,
``NAME-restart.timer`` + ``NAME-restart.service`` for ``cron_restart``, ``NAME-watch.path`` +
``NAME-restart.service`` for ``watch``, and ``NAME.env`` (mode 0600) for the variables whose
names look secret. What systemd cannot do is listed in :attr:`Units.lost`, and said in a
comment of the unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from supervisor_core._secrets import is_secret_name
from supervisor_core.config import AppSpec, CronSchedule, Ecosystem
from supervisor_core.export._unitfile import environment_line, exec_line, one_line

__all__ = ["UnitFile", "Units", "oncalendar", "systemd_size", "systemd_units"]

_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


@dataclass(frozen=True)
class UnitFile:
    name: str
    text: str
    mode: int = 0o644


@dataclass
class Units:
    """The files of an export, and what each app loses on the way."""

    files: list[UnitFile] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def systemd_size(size: int) -> str:
    """Bytes as systemd writes them (base 1024): ``536870912`` → ``512M``."""
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def _seconds(value: float) -> str:
    return f"{value:g}s" if value < 1 or value != int(value) else f"{int(value)}s"


def _values(values: Iterable[int], full: range, width: int = 2) -> str:
    chosen = sorted(values)
    if chosen == list(full):
        return "*"
    return ",".join(f"{v:0{width}d}" for v in chosen)


def oncalendar(expression: str) -> list[str]:
    """A cron expression as systemd ``OnCalendar=`` values (two when cron's rule that a
    restricted day of month *or* day of week matches applies)."""
    cron = CronSchedule.parse(expression)
    seconds = _values(cron.seconds, range(60))
    time = f"{_values(cron.hours, range(24))}:{_values(cron.minutes, range(60))}:{seconds}"
    months = _values(cron.months, range(1, 13))
    days = _values(cron.days, range(1, 32))
    weekdays = ",".join(_WEEKDAYS[d] for d in sorted(cron.weekdays))
    if cron.days_restricted and cron.weekdays_restricted:
        return [f"*-{months}-{days} {time}", f"{weekdays} *-{months}-* {time}"]
    if cron.weekdays_restricted:
        return [f"{weekdays} *-{months}-* {time}"]
    return [f"*-{months}-{days} {time}"]


def systemd_units(
    ecosystem: Ecosystem, *, journal: bool = False, env_dir: Path | None = None
) -> Units:
    """Every app of ``ecosystem`` as unit files (see the module docstring). ``env_dir`` is
    where the units will find the ``NAME.env`` files (default: each app's ``cwd``)."""
    units = Units()
    for spec in ecosystem.apps:
        _app_units(spec, units, journal=journal, env_dir=env_dir)
    return units


def _app_units(spec: AppSpec, units: Units, *, journal: bool, env_dir: Path | None) -> None:
    name = spec.name
    template = spec.instances > 1
    service = f"{name}@.service" if template else f"{name}.service"
    restarted = f"{name}.target" if template else service
    lost = _lost(spec, journal=journal)
    units.lost.extend(f"{name}: {what}" for what in lost)

    secrets = {k: v for k, v in spec.env.items() if is_secret_name(k)}
    lines = [f"# Exported by ptm from {spec.name!r}: the app's settings as systemd can run them."]
    lines += [f"# Not carried over: {what}" for what in lost]
    lines += ["", "[Unit]", f"Description={name}" + (" instance %i" if template else "")]
    lines += ["After=network.target"]
    if template:
        lines.append(f"PartOf={name}.target")
    restart = spec.restart
    if restart.autorestart and restart.max_restarts > 0:
        window = (restart.min_uptime + restart.restart_delay) * (restart.max_restarts + 1)
        lines += [f"StartLimitIntervalSec={_seconds(max(window, 1.0))}"]
        lines += [f"StartLimitBurst={restart.max_restarts}"]
    if spec.listen is not None:
        lines.append(f"Requires={name}.socket")
        lines.append(f"After={name}.socket")
    lines += ["", "[Service]", "Type=notify" if spec.readiness.wait_ready else "Type=simple"]
    if spec.readiness.wait_ready:
        lines.append("NotifyAccess=all")
        lines.append(f"TimeoutStartSec={_seconds(spec.readiness.listen_timeout)}")
    lines.append(exec_line(spec.argv))
    lines.append(f"WorkingDirectory={one_line(str(spec.cwd), 'cwd')}".replace("%", "%%"))
    lines.append(f"SyslogIdentifier={name}")
    if spec.user is not None:
        lines.append(f"User={spec.user}")
    if spec.group is not None:
        lines.append(f"Group={spec.group}")
    env = {"PTM_APP_NAME": name, **{k: v for k, v in spec.env.items() if k not in secrets}}
    lines += [environment_line(key, value) for key, value in env.items()]
    if template:
        lines += ["Environment=PTM_INSTANCE=%i", "Environment=NODE_APP_INSTANCE=%i"]
    else:
        lines += ["Environment=PTM_INSTANCE=0", "Environment=NODE_APP_INSTANCE=0"]
    if secrets:
        env_file = (env_dir or spec.cwd) / f"{name}.env"
        lines.append(f"EnvironmentFile={str(env_file).replace('%', '%%')}")
        units.files.append(
            UnitFile(
                f"{name}.env", "".join(f"{k}={_env_value(v)}\n" for k, v in secrets.items()), 0o600
            )
        )
    lines.append("Restart=always" if restart.autorestart else "Restart=no")
    lines.append(f"RestartSec={_seconds(restart.restart_delay)}")
    if restart.stop_exit_codes:
        codes = " ".join(str(c) for c in sorted(restart.stop_exit_codes))
        lines += [f"RestartPreventExitStatus={codes}", f"SuccessExitStatus={codes}"]
    if spec.memory.max_memory_restart is not None:
        limit = spec.memory.max_memory_restart
        high = limit * 9 // 10
        high -= high % (1 << 20) if high >= 1 << 20 else 0  # a little below, in whole MiB
        lines += [f"MemoryHigh={systemd_size(high)}", f"MemoryMax={systemd_size(limit)}"]
    lines += [f"KillSignal={spec.stop.kill_signal.name}", "KillMode=mixed"]
    lines.append(f"TimeoutStopSec={_seconds(spec.stop.kill_timeout)}")
    lines += _output_lines(spec, journal=journal)
    if spec.listen is not None:
        lines.append(f"Sockets={name}.socket")
    lines += ["", "[Install]"]
    lines.append(f"WantedBy={name}.target" if template else "WantedBy=multi-user.target")
    units.files.append(UnitFile(service, "\n".join(lines) + "\n"))

    if template:
        wants = " ".join(f"{name}@{i}.service" for i in range(spec.instances))
        units.files.append(
            UnitFile(
                f"{name}.target",
                f"[Unit]\nDescription={name} ({spec.instances} instances)\nWants={wants}\n"
                "\n[Install]\nWantedBy=multi-user.target\n",
            )
        )
    if spec.listen is not None:
        first = f"{name}@0.service" if template else service
        units.files.append(
            UnitFile(
                f"{name}.socket",
                f"[Unit]\nDescription={name}'s listening socket\n\n[Socket]\n"
                f"ListenStream={spec.listen.host}:{spec.listen.port}\n"
                f"FileDescriptorName={name}\nService={first}\n"
                "\n[Install]\nWantedBy=sockets.target\n",
            )
        )
    if spec.cron_restart is not None or spec.watch.enabled:
        units.files.append(
            UnitFile(
                f"{name}-restart.service",
                f"[Unit]\nDescription=Restart {name}\n\n[Service]\nType=oneshot\n"
                f"ExecStart=/usr/bin/systemctl try-restart {restarted}\n",
            )
        )
    if spec.cron_restart is not None:
        calendars = "".join(f"OnCalendar={c}\n" for c in oncalendar(spec.cron_restart))
        units.files.append(
            UnitFile(
                f"{name}-restart.timer",
                f"[Unit]\nDescription=Restart {name} at {spec.cron_restart}\n\n[Timer]\n"
                f"{calendars}Unit={name}-restart.service\n\n[Install]\nWantedBy=timers.target\n",
            )
        )
    if spec.watch.enabled:
        paths = "".join(f"PathModified={str(p).replace('%', '%%')}\n" for p in spec.watch.paths)
        units.files.append(
            UnitFile(
                f"{name}-watch.path",
                f"[Unit]\nDescription=Restart {name} when its files change\n\n[Path]\n"
                f"{paths}Unit={name}-restart.service\n\n[Install]\nWantedBy=paths.target\n",
            )
        )


def _env_value(value: str) -> str:
    """A value of an ``EnvironmentFile=`` line, quoted as systemd reads it back."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _output_lines(spec: AppSpec, *, journal: bool) -> list[str]:
    if journal or spec.logs is None:
        return ["StandardOutput=journal", "StandardError=journal"]
    out, err = (str(spec.logs.out_file), str(spec.logs.error_file))
    return [f"StandardOutput=append:{out}", f"StandardError=append:{err}"]


def _lost(spec: AppSpec, *, journal: bool) -> list[str]:
    """What of the app's settings systemd cannot do."""
    lost: list[str] = []
    logs = spec.logs
    if logs is not None and not journal:
        lost.append(
            "log rotation (log_file_max_size, log_file_max_files, log_compress): use"
            " logrotate with copytruncate, or --journal"
        )
        if logs.date_format is not None:
            lost.append("log line timestamps (log_date_format): the journal stamps lines")
    if spec.health_check is not None:
        lost.append(f"the HTTP health check on {spec.health_check.url}: systemd has none")
    if spec.restart.exp_backoff_restart_delay is not None:
        lost.append(
            "exp_backoff_restart_delay: systemd 254+ has RestartSteps= and"
            " RestartMaxDelaySec=; RestartSec= is the fixed delay"
        )
    if spec.memory.max_memory_restart is not None:
        lost.append(
            "max_memory_restart restarts the app: MemoryMax= lets the kernel kill it"
            " (then Restart= starts it again)"
        )
    return lost
