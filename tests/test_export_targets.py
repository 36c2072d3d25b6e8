"""``ptm export kubernetes`` and ``ptm export compose``: the mapping, checked by each
target's own validator (kubernetes-validate's pinned schemas, offline; docker-compose's
loader, no Docker daemon needed)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.test_export_systemd import guide_file

BIN = Path(sys.executable).parent
PTM = [str(BIN / "ptm")]
KUBERNETES_VALIDATE = str(BIN / "kubernetes-validate")
DOCKER_COMPOSE = shutil.which("docker-compose") or "docker-compose"
REPO = Path(__file__).resolve().parent.parent


ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # as the README says


def export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PTM, "export", *args], capture_output=True, text=True, timeout=60, check=True, env=ENV
    )


def kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def validate_kubernetes(path: Path) -> None:
    done = subprocess.run(
        [KUBERNETES_VALIDATE, "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARN" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_guides_settings_map_to_kubernetes(tmp_path: Path) -> None:
    eco = guide_file(tmp_path, 3000)
    out = tmp_path / "k8s"
    done = export("kubernetes", str(eco), "--image", "ghcr.io/acme/point-tron:1", "-o", str(out))
    assert "log files" in done.stderr  # what is lost is said
    manifests = out / "manifests.yaml"
    validate_kubernetes(manifests)
    objects = list(yaml.safe_load_all(manifests.read_text()))
    assert kinds(objects) == [
        ("Secret", "point-tron-env"),
        ("Deployment", "point-tron"),
        ("ServiceAccount", "point-tron-restart"),
        ("Role", "point-tron-restart"),
        ("RoleBinding", "point-tron-restart"),
        ("CronJob", "point-tron-restart"),
    ]
    deployment = objects[1]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ptm"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 8
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["failureThreshold"] == 3
    assert container["command"] == ["python"] and container["args"] == ["server.py"]
    nobody = pwd.getpwnam("nobody")
    assert container["securityContext"] == {"runAsUser": nobody.pw_uid, "runAsGroup": nobody.pw_gid}
    assert "s3cret" not in yaml.safe_dump(deployment)  # in the Secret, by reference
    assert {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "point-tron-env",
            "key": "API_TOKEN"}}} in container["env"]  # fmt: skip
    assert objects[5]["spec"]["schedule"] == "0 3 * * *"
    assert stat.S_IMODE(manifests.stat().st_mode) == 0o600  # it holds the Secret
    # A stable order: a second export is the same, byte for byte.
    again = tmp_path / "again"
    export("kubernetes", str(eco), "--image", "ghcr.io/acme/point-tron:1", "-o", str(again))
    assert (again / "manifests.yaml").read_text() == manifests.read_text()


def test_the_example_exports_point_tron_as_one_writer(tmp_path: Path) -> None:
    """Point-Tron keeps its data in one SQLite file: never two writers on two copies."""
    out = tmp_path / "k8s"
    export(
        "kubernetes", str(REPO / "examples" / "ecosystem.toml"), "--image", "point-tron:1",
        "--stateful", "point-tron", "-o", str(out),
    )  # fmt: skip
    validate_kubernetes(out / "manifests.yaml")
    objects = {
        (o["kind"], o["metadata"]["name"]): o
        for o in yaml.safe_load_all((out / "manifests.yaml").read_text())
    }
    deployment = objects[("Deployment", "point-tron")]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert ("PersistentVolumeClaim", "point-tron-state") in objects
    assert objects[("Deployment", "tron-sim")]["spec"].get("strategy") is None


def test_the_guides_settings_map_to_compose(tmp_path: Path) -> None:
    eco = guide_file(tmp_path, 3000)
    out = tmp_path / "compose"
    done = export("compose", str(eco), "--image", "ghcr.io/acme/point-tron:1", "-o", str(out))
    assert "cron_restart" in done.stderr
    checked = subprocess.run(
        [DOCKER_COMPOSE, "config", "-q"], cwd=out, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == "", checked.stderr
    service = yaml.safe_load((out / "compose.yaml").read_text())["services"]["point-tron"]
    assert service["deploy"] == {"replicas": 2, "resources": {"limits": {"memory": "512M"}}}
    assert service["restart"] == "always"
    nobody = pwd.getpwnam("nobody")
    assert service["user"] == f"{nobody.pw_uid}:{nobody.pw_gid}"
    assert service["stop_grace_period"] == "8s"
    assert service["stop_signal"] == "SIGTERM"
    assert service["healthcheck"]["test"][-1] == "http://127.0.0.1:3000/health"
    assert service["healthcheck"]["retries"] == 3
    assert "API_TOKEN" not in service["environment"]
    assert service["env_file"] == ["point-tron.env"]
    assert stat.S_IMODE((out / "point-tron.env").stat().st_mode) == 0o600


def test_the_example_exports_to_compose(tmp_path: Path) -> None:
    out = tmp_path / "compose"
    export(
        "compose", str(REPO / "examples" / "ecosystem.toml"), "--image", "point-tron:1",
        "-o", str(out),
    )  # fmt: skip
    checked = subprocess.run(
        [DOCKER_COMPOSE, "config", "-q"], cwd=out, capture_output=True, text=True, timeout=60
    )
    assert (checked.returncode, checked.stderr) == (0, "")


def test_an_image_is_required_and_a_bad_name_refused(tmp_path: Path) -> None:
    eco = guide_file(tmp_path, 3000)
    done = subprocess.run(
        [*PTM, "export", "kubernetes", str(eco)], capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stderr) == (
        2,
        "ptm: --image: ptm export kubernetes needs --image IMAGE\n",
    )
    done = subprocess.run(
        [*PTM, "export", "kubernetes", str(eco), "--image", "x", "--stateful", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "ptm: --stateful: no app named 'nope' in this file\n",
    )
