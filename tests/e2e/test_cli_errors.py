"""Failures a user meets: one line on stderr, exit 1 (failed) or 2 (usage, config)."""

from __future__ import annotations

import argparse
import re

import pytest

from tests.e2e.conftest import Ptm


def one_line(text: str) -> str:
    assert text.startswith("ptm"), text
    assert text.count("\n") == 1, text
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize(
    "args",
    [
        ["stop", "nope"],
        ["restart", "nope"],
        ["delete", "nope"],
        ["describe", "nope"],
        ["scale", "nope", "2"],
        ["reset", "nope"],
        ["signal", "SIGUSR1", "nope"],
        ["logs", "nope", "--nostream"],
        ["stop", "7"],
        ["stop", "all"],
        ["start", "nope"],
    ],
)
def test_an_unknown_app_fails_with_one_line_and_exit_1(ptm: Ptm, args: list[str]) -> None:
    done = ptm(*args)
    assert done.returncode == 1, done
    assert done.stdout == ""
    one_line(done.stderr)
    assert "no app" in done.stderr or "no process with id 7" in done.stderr


def test_an_unknown_app_changes_nothing(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")
    before = ptm.wait_online(1)
    assert ptm("restart", "nope").returncode == 1
    after = ptm.jlist()
    keys = ("name", "pid", "status", "restarts", "last_restart_reason", "started_at")
    assert [[r[k] for k in keys] for r in after] == [[r[k] for k in keys] for r in before]


def test_a_bad_ecosystem_fails_with_one_line_naming_file_and_key(ptm: Ptm) -> None:
    ptm.write(
        "bad.toml",
        """
        [[apps]]
        name = "api"
        script = "app.py"
        max_memory_restar = "200M"
        """,
    )
    ptm.write("app.py", "import time; time.sleep(60)\n")
    done = ptm("start", "bad.toml")
    assert done.returncode == 2, done
    line = one_line(done.stderr)
    assert "bad.toml" in line and "max_memory_restar" in line and "max_memory_restart" in line
    assert ptm.jlist() == []


def test_invalid_toml_and_a_missing_file_exit_2(ptm: Ptm) -> None:
    ptm.write("broken.toml", "[[apps]\nname = \n")
    done = ptm("start", "broken.toml")
    assert done.returncode == 2 and "broken.toml" in one_line(done.stderr)
    done = ptm("start", "missing.toml")
    assert done.returncode == 2 and "missing.toml: no such file" in one_line(done.stderr)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["scale", "api", "many"],
        ["logs", "--out", "--err"],
        ["stop"],
        ["list", "--", "x"],
        ["start", "ecosystem.toml", "--name", "x"],
        ["start", "app.py", "--env", "production"],
        ["signal", "SIGNOPE", "all"],
    ],
)
def test_usage_errors_exit_2(ptm: Ptm, args: list[str]) -> None:
    ptm.ecosystem(("api", 1))
    done = ptm(*args)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    if args and args[0] not in ("scale", "logs", "stop"):
        one_line(done.stderr)
    if args == ["frobnicate"]:
        assert done.stderr == "ptm: unknown command 'frobnicate' (see: ptm --help)\n"


@pytest.mark.parametrize(
    ("word", "meant"),
    [("restat", "restart"), ("lsit", "list"), ("jlsit", "jlist"), ("sendsignal", "sendSignal")],
)
def test_a_mistyped_command_gets_the_closest_command_or_alias(
    ptm: Ptm, word: str, meant: str
) -> None:
    done = ptm(word, "api")
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr == f"ptm: unknown command {word!r}; did you mean {meant}?\n"
    assert ptm.daemon_pid() is None


@pytest.mark.parametrize(
    ("args", "instead"),
    [  # the operators' guide's `pm2 set` lines, and PM2 spellings of ptm's commands
        (["set", "point-tron", "max-restarts", "5"], "ptm has no settings store; write the"),
        (["set", "point-tron", "max-memory-limit", "512M"], "ptm has no settings store; write"),
        (["ps"], "use ptm list (or ls, status)"),
        (["logrotate"], "ptm rotates logs itself: log_file_max_size"),
        (["startOrRestart", "ecosystem.toml"], "use ptm start FILE"),
    ],
)
def test_a_pm2_command_ptm_lacks_says_what_to_use_instead(
    ptm: Ptm, args: list[str], instead: str
) -> None:
    done = ptm(*args)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert one_line(done.stderr).startswith(
        f"ptm: {args[0]!r} is a PM2 command, not ptm's: {instead}"
    ), done.stderr
    assert ptm.daemon_pid() is None


def test_kill_without_a_daemon_is_not_an_error_and_starts_none(ptm: Ptm) -> None:
    done = ptm("kill")
    assert (done.returncode, done.stdout, done.stderr) == (0, "[ptm] no daemon running\n", "")
    assert not (ptm.home / "ptm.sock").exists()


def test_version_and_help(ptm: Ptm) -> None:
    assert ptm.ok("--version").startswith("ptm ")
    out = ptm.ok("--help")
    for command in ("start", "jlist", "logs", "monit", "startup", "kill", "ping"):
        assert command in out
    assert re.search(r"^    daemon\b", out, re.MULTILINE) is None  # hidden: it is systemd's
    assert re.search(r"^    monit\b", out, re.MULTILINE) is not None


def _commands() -> list[str]:
    from supervisor_core.cli._main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(name for name in sub.choices if name != "daemon")


def test_every_command_has_a_help_that_reads_well(ptm: Ptm) -> None:
    """``ptm COMMAND --help`` (aliases too): exit 0, its usage line, a sentence saying what it
    does, every argument explained; and asking for help never starts the daemon."""
    commands = _commands()
    assert {"start", "list", "jlist", "logs", "restart", "reload", "startup"} <= set(commands)
    for command in commands:
        done = ptm(command, "--help")
        assert done.returncode == 0, (command, done.stderr)
        assert done.stderr == "", (command, done.stderr)
        lines = done.stdout.splitlines()
        assert lines[0].startswith("usage: ptm "), (command, lines[0])
        paragraphs = done.stdout.split("\n\n")
        sentence = " ".join(paragraphs[1].split())  # the first paragraph after the usage
        assert sentence[0].isupper() and sentence.endswith("."), (command, sentence)
        for at, line in enumerate(lines):  # every argument has its explanation
            if not line.startswith("  ") or line.startswith("   "):
                continue
            if re.search(r"\S  +\S", line):
                continue  # the explanation follows on the same line
            after = lines[at + 1] if at + 1 < len(lines) else ""
            assert after.startswith("    ") and after.strip(), (command, line)
    assert not (ptm.home / "ptm.sock").exists()
    assert ptm.daemon_pid() is None


def test_scale_past_the_instance_limit_is_a_usage_error(ptm: Ptm) -> None:
    ptm.ecosystem(("api", 1))
    done = ptm("scale", "api", "1100")
    assert done.returncode == 2, done
    assert "must be at most 1024: '1100'" in one_line(done.stderr)


def test_scale_by_pm2s_plus_and_minus_n(ptm: Ptm) -> None:
    """PM2's ``scale api +1`` adds an instance and ``-1`` removes one (read as the number 1,
    ``+1`` once scaled api *down* to one instance, stopping the others)."""
    ptm.ecosystem(("api", 3))
    ptm.ok("start", "ecosystem.toml")
    pids = [row["pid"] for row in ptm.wait_online(3)]
    assert "scaled api +1 to 4" in ptm.ok("scale", "api", "+1")
    assert [row["pid"] for row in ptm.wait_online(4)][:3] == pids
    assert "scaled api -2 to 2" in ptm.ok("scale", "api", "-2")
    assert [row["pid"] for row in ptm.wait_online(2)] == pids[:2]
    too_far = ptm("scale", "api", "-2")  # an app keeps one instance at least
    assert too_far.returncode == 1, too_far
    assert "cannot scale 'api' by -2: it has 2" in one_line(too_far.stderr)
    for bad in ("+0", "+x", "+2000"):
        done = ptm("scale", "api", bad)
        assert done.returncode == 2, done
        assert repr(bad) in one_line(done.stderr)
    assert [row["pid"] for row in ptm.wait_online(2)] == pids[:2]
