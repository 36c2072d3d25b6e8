"""``user`` / ``group``: a root daemon runs the app as that user, with its groups and HOME,
and its log files belong to it; a daemon that is not root refuses the key in one line."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from supervisor_core import build_app
from supervisor_core.errors import ConfigError
from supervisor_core.process import check_run_as
from supervisor_core.process._launch import launch_argv
from tests.e2e.conftest import Ptm

APP = """
import os, time
env = os.environ
ids = f"uid={os.getuid()} gid={os.getgid()} groups={sorted(os.getgroups())}"
print(f"{ids} home={env['HOME']} user={env['USER']}", flush=True)
while True:
    time.sleep(1)
"""

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root can create a user and run as it"
)


@pytest.fixture
def user(tmp_path: Path) -> Iterator[pwd.struct_passwd]:
    """A real user made for the test (and a group of its own, plus one more), removed after."""
    name = f"ptm{uuid.uuid4().hex[:8]}"
    extra = f"{name}x"
    subprocess.run(["groupadd", extra], check=True)
    home = tmp_path / "home"
    subprocess.run(
        ["useradd", "--home-dir", str(home), "--create-home", "--user-group", "-G", extra, name],
        check=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", "--force", name], check=False)
        subprocess.run(["groupdel", extra], check=False)


PYTHON = "/usr/bin/python3"


@needs_root
@pytest.mark.skipif(shutil.which("useradd") is None, reason="no useradd on this machine")
@pytest.mark.skipif(not os.path.exists(PYTHON), reason="no system python3 for the user to run")
def test_a_root_daemon_runs_the_app_as_its_user(ptm: Ptm, user: pwd.struct_passwd) -> None:
    # The user must be able to reach the program: a folder anyone may enter, and the
    # system's Python (the test's own lives under root's 0700 home).
    app_dir = Path(tempfile.mkdtemp(prefix="ptm-user-"))
    os.chmod(app_dir, 0o755)
    (app_dir / "app.py").write_text(APP)
    logs = ptm.cwd / "logs"
    ptm.write(
        "ecosystem.toml",
        f'[[apps]]\nname = "as-user"\nscript = "{app_dir}/app.py"\ninterpreter = "{PYTHON}"\n'
        f'user = "{user.pw_name}"\nout_file = "{logs}/out.log"\nerror_file = "{logs}/err.log"\n'
        'log_date_format = ""\nkill_timeout = "2s"\n',
    )
    ptm.ok("start", "ecosystem.toml")
    (row,) = ptm.wait_online(1)
    out = logs / "out.log"
    ptm.wait_rows(lambda _rows: out.exists() and "uid=" in out.read_text())
    text = out.read_text()
    extra = grp.getgrnam(f"{user.pw_name}x").gr_gid
    assert f"uid={user.pw_uid} gid={user.pw_gid}" in text
    assert str(extra) in text.split("groups=")[1].split(" home=")[0]  # supplementary groups
    assert f"home={user.pw_dir} user={user.pw_name}" in text
    assert (out.stat().st_uid, out.stat().st_gid) == (user.pw_uid, user.pw_gid)
    assert psutil.Process(row["pid"]).uids().real == user.pw_uid
    ptm.ok("delete", "as-user")
    shutil.rmtree(app_dir)


def test_a_daemon_that_is_not_root_refuses_another_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.py").write_text("")
    spec = build_app({"name": "web", "script": "app.py", "user": "nobody"}, base_dir=tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError) as info:
        check_run_as(spec)
    assert str(info.value) == (
        "web: user: only a daemon running as root can run an app as another user"
        " (this one runs as uid 1000)"
    )


def test_the_launch_runs_behind_setpriv_with_the_users_ids(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    nobody = pwd.getpwnam("nobody")
    spec = build_app({"name": "web", "script": "app.py", "user": "nobody"}, base_dir=tmp_path)
    argv = launch_argv(spec, identity="/usr/bin/setpriv")
    assert argv[:5] == (
        "/usr/bin/setpriv",
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--init-groups",
        "--",
    )
    grouped = build_app({"name": "g", "script": "app.py", "group": "nogroup"}, base_dir=tmp_path)
    assert "--clear-groups" in launch_argv(grouped, identity="/usr/bin/setpriv")
    with pytest.raises(ConfigError, match="no such user"):
        build_app({"name": "x", "script": "app.py", "user": "no-such-user-here"}, base_dir=tmp_path)
