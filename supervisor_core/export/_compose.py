"""An ecosystem file as a Compose file: ``ptm export compose``.

One service per app: the command, environment (secret-looking variables in an ``env_file``
written with mode 0600), ``deploy.replicas`` and ``deploy.resources.limits.memory``,
``restart``, a ``healthcheck`` from ``[apps.health_check]``, ``stop_grace_period`` and
``stop_signal``, and the port of ``[apps.listen]``.
"""

from __future__ import annotations

from typing import Any

from supervisor_core.config import Ecosystem
from supervisor_core.export._common import health_probe, portable_argv, seconds, split_env
from supervisor_core.export._systemd import systemd_size
from supervisor_core.process import run_as

__all__ = ["compose_file"]

_PROBE = (
    "import sys, urllib.request; "
    "sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout={timeout}).status < 400 else 1)"
)


def compose_file(
    ecosystem: Ecosystem, *, image: str
) -> tuple[dict[str, Any], dict[str, dict[str, str]], list[str]]:
    """(the Compose document, the env files to write by name, what is lost)."""
    services: dict[str, Any] = {}
    env_files: dict[str, dict[str, str]] = {}
    lost: list[str] = []
    for spec in ecosystem.apps:
        plain, secret = split_env(spec)
        argv = portable_argv(spec)
        service: dict[str, Any] = {
            "image": image,
            "entrypoint": argv[:1],
            "command": argv[1:],
            "working_dir": str(spec.cwd),
            "environment": dict(plain),
            "restart": "always" if spec.restart.autorestart else "no",
            "stop_signal": spec.stop.kill_signal.name,
            "stop_grace_period": f"{seconds(spec.stop.kill_timeout)}s",
        }
        ids = run_as(spec)
        if ids is not None:
            service["user"] = f"{ids[0]}:{ids[1]}"
        if secret:
            env_files[f"{spec.name}.env"] = dict(secret)
            service["env_file"] = [f"{spec.name}.env"]
        deploy: dict[str, Any] = {"replicas": spec.instances}
        if spec.memory.max_memory_restart is not None:
            memory = systemd_size(spec.memory.max_memory_restart)
            deploy["resources"] = {"limits": {"memory": memory}}
        service["deploy"] = deploy
        probe = health_probe(spec)
        if probe is not None:
            assert spec.health_check is not None
            service["healthcheck"] = {
                "test": [
                    "CMD",
                    "python",
                    "-c",
                    _PROBE.format(timeout=probe.timeout),
                    spec.health_check.url,
                ],
                "interval": f"{probe.period}s",
                "timeout": f"{probe.timeout}s",
                "retries": probe.failures,
            }
        if spec.listen is not None:
            port = spec.listen.port
            service["ports"] = [f"{spec.listen.host}:{port}:{port}"]
            if spec.instances > 1:
                lost.append(
                    f"{spec.name}: one published port cannot serve {spec.instances} replicas"
                )
        if spec.cron_restart is not None:
            lost.append(f"{spec.name}: cron_restart (Compose has no timers)")
        if spec.watch.enabled:
            lost.append(
                f"{spec.name}: watch (Compose's develop.watch rebuilds, it does not restart)"
            )
        if spec.logs is not None:
            lost.append(f"{spec.name}: log files and their rotation (the logging driver has them)")
        if spec.restart.stop_exit_codes:
            lost.append(f"{spec.name}: stop_exit_codes (restart: always restarts any exit)")
        services[spec.name] = service
    return {"services": services}, env_files, lost
