"""An ecosystem file as Kubernetes objects: ``ptm export kubernetes``.

Per app: a Secret for the secret-looking variables, a Deployment (replicas = instances), a
Service for ``[apps.listen]``, and for ``cron_restart`` a CronJob with the ServiceAccount, Role
and RoleBinding that let it run ``kubectl rollout restart``. An app named in ``stateful`` (it
keeps local state, such as Point-Tron's SQLite file) gets one replica, ``strategy: Recreate``
and a PersistentVolumeClaim at its working directory, so two writers never run on two copies.
Objects come in a stable order, so that a diff of two exports is meaningful.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from supervisor_core.config import AppSpec, Ecosystem
from supervisor_core.errors import ConfigError
from supervisor_core.export._common import health_probe, portable_argv, seconds, split_env
from supervisor_core.export._systemd import systemd_size
from supervisor_core.process import run_as

__all__ = ["KUBECTL_IMAGE", "kubernetes_objects"]

KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.31.0"
"""The image the cron-restart job runs ``kubectl rollout restart`` with."""


def _labels(spec: AppSpec, part_of: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/part-of": part_of,
        "app.kubernetes.io/managed-by": "ptm",
    }


def _quantity(size: int) -> str:
    """Bytes as a Kubernetes quantity: ``512M`` (systemd's base 1024) is ``512Mi``."""
    text = systemd_size(size)
    return text + "i" if text[-1] in "KMG" else text


def kubernetes_objects(
    ecosystem: Ecosystem,
    *,
    image: str,
    stateful: Collection[str] = (),
    cron: bool = True,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects of every app, and what could not be expressed (one line each)."""
    names = {spec.name for spec in ecosystem.apps}
    for name in stateful:
        if name not in names:
            raise ConfigError(f"--stateful: no app named {name!r} in this file")
    part_of = ecosystem.path.stem if ecosystem.path is not None else "ptm"
    objects: list[dict[str, Any]] = []
    lost: list[str] = []
    for spec in ecosystem.apps:
        objects += _app_objects(spec, image, part_of, spec.name in stateful, cron, lost)
    return objects, lost


def _app_objects(
    spec: AppSpec, image: str, part_of: str, stateful: bool, cron: bool, lost: list[str]
) -> list[dict[str, Any]]:
    name, labels = spec.name, _labels(spec, part_of)
    meta = {"name": name, "labels": labels}
    plain, secret = split_env(spec)
    objects: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    if secret:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {**meta, "name": f"{name}-env"},
                "type": "Opaque",
                "stringData": dict(secret),
            }
        )
        env += [
            {"name": k, "valueFrom": {"secretKeyRef": {"name": f"{name}-env", "key": k}}}
            for k in secret
        ]
    argv = portable_argv(spec)
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": argv[:1],
        "args": argv[1:],
        "workingDir": str(spec.cwd),
        "env": env,
    }
    if spec.memory.max_memory_restart is not None:
        limit = spec.memory.max_memory_restart
        container["resources"] = {
            "limits": {"memory": _quantity(limit)},
            "requests": {"memory": _quantity(limit // 2)},
        }
    probe = health_probe(spec)
    if probe is not None:
        http = {"path": probe.path, "port": probe.port, "scheme": probe.scheme}
        container["livenessProbe"] = {
            "httpGet": http,
            "periodSeconds": probe.period,
            "timeoutSeconds": probe.timeout,
            "failureThreshold": probe.failures,
        }
        if spec.readiness.wait_ready:
            container["readinessProbe"] = {"httpGet": http, "periodSeconds": 1}
            container["startupProbe"] = {
                "httpGet": http,
                "periodSeconds": 1,
                "failureThreshold": seconds(spec.readiness.listen_timeout),
            }
    elif spec.readiness.wait_ready and spec.listen is not None:
        tcp = {"tcpSocket": {"port": spec.listen.port}}
        container["readinessProbe"] = {**tcp, "periodSeconds": 1}
        container["startupProbe"] = {
            **tcp,
            "periodSeconds": 1,
            "failureThreshold": seconds(spec.readiness.listen_timeout),
        }
    elif spec.readiness.wait_ready:
        lost.append(f"{name}: wait_ready without a health check or a port: no readiness probe")
    if spec.listen is not None:
        container["ports"] = [{"containerPort": spec.listen.port, "name": "listen"}]
    ids = run_as(spec)
    if ids is not None:
        container["securityContext"] = {"runAsUser": ids[0], "runAsGroup": ids[1]}
        lost.append(f"{name}: user/group by name: the image runs uid {ids[0]}, gid {ids[1]}")
    pod: dict[str, Any] = {
        "terminationGracePeriodSeconds": seconds(spec.stop.kill_timeout),
        "containers": [container],
        "restartPolicy": "Always",
    }
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": spec.instances,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    if stateful:
        if spec.instances > 1:
            lost.append(f"{name}: keeps local state: 1 replica, not {spec.instances}")
        deployment["spec"]["replicas"] = 1
        deployment["spec"]["strategy"] = {"type": "Recreate"}
        container["volumeMounts"] = [{"name": "state", "mountPath": str(spec.cwd)}]
        pod["volumes"] = [
            {"name": "state", "persistentVolumeClaim": {"claimName": f"{name}-state"}}
        ]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {**meta, "name": f"{name}-state"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
    objects.append(deployment)
    if spec.listen is not None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "selector": {"app.kubernetes.io/name": name},
                    "ports": [{"port": spec.listen.port, "targetPort": "listen"}],
                },
            }
        )
    if spec.cron_restart is not None and cron:
        objects += _cron_restart(spec, meta)
    elif spec.cron_restart is not None:
        lost.append(f"{name}: cron_restart (left out with --no-cron)")
    if spec.watch.enabled:
        lost.append(f"{name}: watch (a new image is a new rollout)")
    if spec.logs is not None:
        lost.append(f"{name}: log files and their rotation (containers log to stdout)")
    lost.append(f"{name}: restart delay and crash-loop limit (Kubernetes backs off by itself)")
    return objects


def _cron_restart(spec: AppSpec, meta: dict[str, Any]) -> list[dict[str, Any]]:
    name = f"{spec.name}-restart"
    named = {**meta, "name": name}
    assert spec.cron_restart is not None
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": named},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": named,
            "rules": [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "resourceNames": [spec.name],
                    "verbs": ["get", "patch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": named,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name}],
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": named,
            "spec": {
                "schedule": spec.cron_restart,
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "serviceAccountName": name,
                                "restartPolicy": "OnFailure",
                                "containers": [
                                    {
                                        "name": "kubectl",
                                        "image": KUBECTL_IMAGE,
                                        "command": [
                                            "kubectl",
                                            "rollout",
                                            "restart",
                                            f"deployment/{spec.name}",
                                        ],
                                    }
                                ],
                            }
                        }
                    }
                },
            },
        },
    ]
