"""Bad input a demanding user can give: one line naming what is wrong, the right exit code,
never a traceback or a Python repr, and a daemon that keeps serving.

Each case here was found by trying it: before its fix it printed a traceback, an
``internal error: ...Error`` of the daemon, or left the daemon unable to answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import PTM, Ptm

DEPTH = 100_000


def clean_line(text: str) -> str:
    """One ``ptm: ...`` line, with nothing of Python in it."""
    assert text.startswith("ptm"), text
    assert text.count("\n") == 1, text
    for python in ("Traceback", "internal error", "Error(", "Error:", "<class"):
        assert python not in text, text
    return text


# --------------------------------------------------------------------------- nesting


def _deep(suffix: str) -> str:
    if suffix == ".toml":
        return "apps = " + "[" * DEPTH + "]" * DEPTH + "\n"
    if suffix == ".json":
        return '{"apps": ' + "[" * DEPTH + "]" * DEPTH + "}\n"
    return "apps: " + "[" * DEPTH + "]" * DEPTH + "\n"


_DEEP_CASES = [
    (command, suffix)
    for command in (["start"], ["run"], ["export", "systemd"], ["import", "-o", "-"])
    for suffix in (".toml", ".json", ".yaml")
    if not (command[0] == "import" and suffix == ".toml")  # import reads PM2 files only
]


@pytest.mark.parametrize(("command", "suffix"), _DEEP_CASES)
def test_a_file_nested_too_deeply_is_a_config_error(
    ptm: Ptm, command: list[str], suffix: str
) -> None:
    name = f"deep{suffix}"
    ptm.write(name, _deep(suffix))
    done = ptm(*command, name)
    assert done.returncode == 2, done
    line = clean_line(done.stderr)
    assert name in line and "nests too deeply" in line, line
    if command == ["start"]:
        assert ptm.jlist() == []  # the daemon answers, and started nothing


# --------------------------------------------------------------------------- digits

# str.isdigit() is true for these, and int() refuses them or reads them as a number:
# a target is a process id only when it is ASCII digits.
NOT_AN_ID = ["²", "٣", "０"]
TOO_LONG = "9" * 5000  # int() refuses more than 4300 digits


COMMANDS = [
    ["stop"],
    ["restart"],
    ["delete"],
    ["describe"],
    ["reset"],
    ["pid"],
    ["env"],
    ["flush"],
    ["start"],
    ["scale", "{}", "2"],
    ["signal", "SIGUSR1"],
    ["logs", "--nostream"],
]


@pytest.mark.parametrize("word", [*NOT_AN_ID, TOO_LONG])
def test_a_target_of_other_digits_is_an_unknown_app(ptm: Ptm, word: str) -> None:
    ptm.ecosystem(("api", 1))  # process 0
    ptm.ok("start", "ecosystem.toml", "--no-wait")
    before = ptm.wait_online(1)
    for command in COMMANDS:
        args = [a.replace("{}", word) for a in command] if "{}" in command else [*command, word]
        done = ptm(*args)
        assert done.returncode == 1, done
        line = clean_line(done.stderr)
        if word == TOO_LONG:
            assert "no process with id 999" in line, line
        else:
            assert f"no app named {word!r}" in line, line
    after = ptm.jlist()  # '０' did not act on process 0
    assert [(r["pid"], r["restarts"]) for r in after] == [(r["pid"], r["restarts"]) for r in before]


@pytest.mark.parametrize("signame", ["²", TOO_LONG])
def test_a_signal_of_other_digits_is_a_usage_error(ptm: Ptm, signame: str) -> None:
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml", "--no-wait")
    done = ptm("signal", signame, "api")
    assert done.returncode == 2, done
    assert "unknown signal" in clean_line(done.stderr)


def test_an_instance_of_other_digits_is_a_usage_error(ptm: Ptm) -> None:
    done = ptm("env", "api", "--instance", "²")
    assert done.returncode == 2, done
    line = clean_line(done.stderr)
    assert "--instance: must be an instance number (0, 1, ...): '²'" in line, line
    assert ptm.daemon_pid() is None


@pytest.mark.parametrize("port", ["²", TOO_LONG])
def test_an_increment_var_of_other_digits_is_a_config_error(ptm: Ptm, port: str) -> None:
    ptm.write("app.py", "import time\ntime.sleep(60)\n")
    ptm.write(
        "inc.toml",
        f'[[apps]]\nname = "api"\nscript = "app.py"\ninstances = 2\n'
        f'increment_var = "PORT"\nenv = {{ PORT = "{port}" }}\n',
    )
    done = ptm("start", "inc.toml")
    assert done.returncode == 2, done
    line = clean_line(done.stderr)
    assert "inc.toml: apps[0].increment_var: PORT must be set to an integer" in line, line
    assert ptm.jlist() == []


@pytest.mark.parametrize("port", ["²", TOO_LONG])
def test_scaling_an_app_whose_port_is_other_digits_works(ptm: Ptm, port: str) -> None:
    """The fixed-port warning of ``ptm scale`` reads PORT; a PORT that is not a number is no
    fixed port (the app finds out what it means)."""
    ptm.write("app.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    ptm.write(
        "port.toml",
        f'[[apps]]\nname = "api"\nscript = "app.py"\nkill_timeout = "2s"\n'
        f'env = {{ PORT = "{port}" }}\n',
    )
    ptm.ok("start", "port.toml", "--no-wait")
    done = ptm("scale", "api", "2")
    assert done.returncode == 0, done
    assert done.stderr == "", done.stderr
    ptm.wait_online(2)


@pytest.mark.parametrize("count", ["²", TOO_LONG])
def test_pm2_instances_of_other_digits_is_a_config_error(ptm: Ptm, count: str) -> None:
    ptm.write("app.py", "import time\ntime.sleep(60)\n")
    ptm.write(
        "eco.json", f'{{"apps": [{{"name": "api", "script": "app.py", "instances": "{count}"}}]}}'
    )
    for command in (["export", "systemd"], ["import", "-o", "-"], ["start"]):
        done = ptm(*command, "eco.json")
        assert done.returncode == 2, (command, done)
        line = clean_line(done.stderr)
        assert "eco.json: apps[0].instances: must be an integer" in line, line


# --------------------------------------------------------------------------- PTM_HOME


def _ptm_with_home(
    home: str, *args: str, cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PTM, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PTM_HOME": home},
    )


def _bad_homes(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """PTM_HOME values ptm cannot use -> (the value, what the message says)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere" / "at-all")
    long = tmp_path / ("x" * (120 - len(str(tmp_path))))  # its ptm.sock: over 108 bytes
    homes = {
        "a file": (str(a_file), "not a folder"),
        "under a file": (str(a_file / "home"), "not a folder"),
        "a dangling symlink": (str(dangling), "cannot create the folder"),
        "too long for a socket": (str(long), "too long for a Unix socket"),
    }
    if Path("/sys/kernel").is_dir() and not os.access("/sys/kernel", os.W_OK | os.X_OK):
        homes["not writable"] = ("/sys/kernel", "cannot write")  # even root cannot
    elif Path("/sys/kernel").is_dir():  # root: access() says yes, creating a file fails
        homes["not writable"] = ("/sys/kernel", "cannot write")
    return homes


@pytest.mark.parametrize(
    "case",
    ["a file", "under a file", "a dangling symlink", "too long for a socket", "not writable"],
)
@pytest.mark.parametrize(
    "command", [["ping"], ["list"], ["jlist"], ["start", "eco.toml"], ["daemon", "--foreground"]]
)
def test_a_ptm_home_that_cannot_be_used_is_a_config_error(
    tmp_path: Path, case: str, command: list[str]
) -> None:
    homes = _bad_homes(tmp_path)
    if case not in homes:
        pytest.skip("no /sys/kernel here")
    home, says = homes[case]
    (tmp_path / "eco.toml").write_text('[[apps]]\nname = "api"\nscript = "app.py"\n')
    (tmp_path / "app.py").write_text("import time\ntime.sleep(60)\n")
    done = _ptm_with_home(home, *command, cwd=tmp_path)
    assert done.returncode == 2, done
    line = clean_line(done.stderr)
    assert line.startswith("ptm: PTM_HOME: ") and says in line, line
    assert home in line, line
    if case in ("too long for a socket", "a dangling symlink"):
        assert not Path(home).exists()  # nothing was created there


# --------------------------------------------------------------------------- not a file

_START_FILE = """
import sys
from supervisor_core.client import Client
from supervisor_core.errors import ApiError
try:
    with Client(autostart=False) as client:
        client.start_ecosystem(sys.argv[1])
except ApiError as exc:
    print(exc.kind, exc, sep="\\n")
"""


@pytest.mark.parametrize("name", ["fifo.toml", "fifo.json", "fifo.yaml"])
def test_the_daemon_refuses_a_fifo_and_keeps_serving(ptm: Ptm, name: str) -> None:
    """A FIFO with no writer would block the daemon's read for ever, and with it every
    later start, stop and kill (they wait for the same lock)."""
    fifo = ptm.cwd / name
    os.mkfifo(fifo)
    ptm.ok("ping")
    asked = subprocess.run(  # the API directly: ptm start checks the file first
        [sys.executable, "-c", _START_FILE, str(fifo)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    kind, message = asked.stdout.splitlines()
    assert kind == "config", asked
    assert message == f"{fifo}: not a regular file (a FIFO); give the path of a file", message
    ptm.ecosystem(("api", 1))
    ptm.ok("start", "ecosystem.toml")  # the daemon still starts apps
    ptm.ok("stop", "api")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (os.mkfifo, "not a regular file (a FIFO); give the path of a file"),
        (os.mkdir, "is a directory, not an ecosystem file"),
    ],
)
def test_ptm_start_of_a_fifo_or_a_folder_says_what_it_is(
    ptm: Ptm, make: Callable[[Path], None], says: str
) -> None:
    make(ptm.cwd / "eco.toml")
    done = ptm("start", "eco.toml")
    assert done.returncode == 2, done
    assert clean_line(done.stderr) == f"ptm: eco.toml: {says}\n"
    assert ptm.daemon_pid() is None  # checked before the daemon is asked


# --------------------------------------------------------------------------- export -o


def _export_case(ptm: Ptm, case: str) -> tuple[str, str]:
    """(the -o value, what the line says about it)."""
    if case == "a file":
        ptm.write("units", "a file\n")
        return (
            "units",
            f"{ptm.cwd / 'units'}: -o: not a folder (it, or a folder above it, is a file)",
        )
    if case == "under a file":
        ptm.write("units", "a file\n")
        return "units/x", (
            f"{ptm.cwd / 'units' / 'x'}: -o: not a folder (it, or a folder above it, is a file)"
        )
    if case == "a folder where a unit goes":
        (ptm.cwd / "units" / "api.service").mkdir(parents=True)
        return "units", f"{ptm.cwd / 'units' / 'api.service'}: cannot write: Is a directory"
    (ptm.cwd / "units").mkdir()
    (ptm.cwd / "units" / "api.service").symlink_to(ptm.cwd / "elsewhere.service")
    return "units", (
        f"{ptm.cwd / 'units' / 'api.service'}: is a symbolic link; ptm writes no file"
        " through one (remove it, or choose another -o)"
    )


@pytest.mark.parametrize(
    "case", ["a file", "under a file", "a folder where a unit goes", "a symlink where a unit goes"]
)
def test_export_to_a_folder_it_cannot_write_is_one_line(ptm: Ptm, case: str) -> None:
    ptm.ecosystem(("api", 1))
    output, says = _export_case(ptm, case)
    done = ptm("export", "systemd", "ecosystem.toml", "-o", output)
    assert done.returncode == 2, done
    assert clean_line(done.stderr) == f"ptm: {says}\n"
    assert not (ptm.cwd / "elsewhere.service").exists()


# --------------------------------------------------------------------------- not UTF-8

_SHOW_X = """
import os, time
print("X=" + os.environb[b"X"].hex(), flush=True)
time.sleep(60)
"""


def test_a_variable_that_is_not_utf8_is_passed_to_the_app_as_its_bytes(ptm: Ptm) -> None:
    """A shell variable holding Latin-1 text (b'caf\\xe9'): ptm start was a traceback
    (UnicodeEncodeError while sending the caller's environment); the app gets the bytes."""
    ptm.write("show.py", _SHOW_X)
    ptm.write("eco.toml", '[[apps]]\nname = "show"\nscript = "show.py"\nkill_timeout = "2s"\n')
    env = {**os.environ, "X": os.fsdecode(b"caf\xe9")}
    done = subprocess.run(
        [*PTM, "start", "eco.toml"],
        capture_output=True,
        text=True,
        timeout=40,
        cwd=ptm.cwd,
        env=env,
    )
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr, done.stderr
    log = ptm.home / "logs" / "show-out.log"
    _wait_lines(log, "X=636166e9", 1)  # b"caf\xe9".hex()
    ptm.ok("restart", "show")  # the environment kept in state.db: the same bytes
    _wait_lines(log, "X=636166e9", 2)


def _wait_lines(log: Path, line: str, count: int) -> None:
    deadline = time.monotonic() + 15
    while (log.read_text() if log.exists() else "").count(line) < count:
        assert time.monotonic() < deadline, (line, log.read_text() if log.exists() else None)
        time.sleep(0.05)


def test_a_variable_name_that_is_not_utf8_does_not_break_describe(ptm: Ptm) -> None:
    """The daemon's JSON encoder refused the name (kept among the inherited variables): ptm
    describe was the daemon's internal error (500)."""
    ptm.write("app.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    ptm.write("eco.toml", '[[apps]]\nname = "api"\nscript = "app.py"\nkill_timeout = "2s"\n')
    env = {**os.environ, os.fsdecode(b"Y\xe9"): "1"}
    done = subprocess.run(
        [*PTM, "start", "eco.toml"], capture_output=True, timeout=40, cwd=ptm.cwd, env=env
    )
    assert done.returncode == 0, done
    assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr, done
    shown = subprocess.run([*PTM, "describe", "api"], capture_output=True, timeout=40, cwd=ptm.cwd)
    assert shown.returncode == 0, shown
    assert shown.stderr == b"", shown.stderr
    assert b"inherit_env" in shown.stdout
    ptm.jlist()


_NOT_TEXT = "is not UTF-8 text; ptm keeps paths as text (state.db, dump.toml): rename it"


def test_a_path_that_is_not_utf8_is_refused_before_anything_starts(ptm: Ptm) -> None:
    """state.db and dump.toml hold paths as text: an ecosystem file, a script or a folder
    whose name is Latin-1 was the daemon's 500 (ptm start FILE), or started and then made
    every ptm save a 500. Refused up front, in one line."""
    latin = os.fsdecode(b"caf\xe9")
    ptm.write(f"{latin}.py", "import time\ntime.sleep(60)\n")
    ptm.write("app.py", "import time\ntime.sleep(60)\n")
    ptm.write(f"{latin}.toml", '[[apps]]\nname = "api"\nscript = "app.py"\n')
    folder = ptm.cwd / latin
    folder.mkdir()
    (folder / "app.py").write_text("import time\ntime.sleep(60)\n")
    (folder / "eco.toml").write_text('[[apps]]\nname = "api"\nscript = "app.py"\n')
    cases = [
        (ptm.cwd, ["start", f"{latin}.toml"], f"{ptm.cwd / latin}.toml: its path {_NOT_TEXT}"),
        (folder, ["start", "eco.toml"], f"{folder / 'eco.toml'}: its path {_NOT_TEXT}"),
        (ptm.cwd, ["start", f"{latin}.py"], f"ptm: {latin}.py: {_NOT_TEXT}\n"),
        (folder, ["start", "app.py"], f"ptm: the folder {folder} {_NOT_TEXT}\n"),
        (ptm.cwd, ["start", "app.py", "-o", f"{latin}.log"], f"ptm: --output: {_NOT_TEXT}"),
    ]
    for cwd, args, says in cases:
        done = subprocess.run(
            [*PTM, *args], capture_output=True, timeout=40, cwd=cwd, env=dict(os.environ)
        )
        assert done.returncode == 2, (args, done)
        line = os.fsdecode(done.stderr)
        assert line.count("\n") == 1 and "Traceback" not in line, line
        assert says in line.replace("\\udce9", latin[-1]), (says, line)
    assert ptm.jlist() == []
    assert ptm.ok("save", "--force")


# --------------------------------------------------------------------------- a FIFO log

_TICKER = """
import sys, time
print("ready", file=sys.stderr, flush=True)
while True:
    print("tick", flush=True)
    time.sleep(0.2)
"""


@pytest.mark.parametrize("reader", [False, True])
def test_ptm_logs_of_an_app_logging_to_a_fifo_answers_at_once(ptm: Ptm, reader: bool) -> None:
    """out_file may be a FIFO (a log shipper reads it). Its past lines were read like a
    file's: 'ptm: log .../out.fifo: cannot read: Illegal seek', exit 1, so ptm logs of the
    app (which prints past lines before following) never worked. A FIFO keeps no past
    lines: ptm logs shows the other file's, at once."""
    fifo = ptm.cwd / "out.fifo"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    try:
        ptm.write("ticker.py", _TICKER)
        ptm.write(
            "eco.toml",
            f'[[apps]]\nname = "t"\nscript = "ticker.py"\nkill_timeout = "2s"\n'
            f'out_file = "{fifo}"\nlog_date_format = ""\n',
        )
        ptm.ok("start", "eco.toml")
        for _ in range(3):
            began = time.monotonic()
            done = ptm("logs", "t", "--nostream", timeout=30)
            assert done.returncode == 0, done
            assert done.stderr == "", done.stderr
            assert "ready" in done.stdout  # the error log's past lines
            assert time.monotonic() - began < 8
        ptm.ecosystem(("other", 1))
        ptm.ok("start", "ecosystem.toml")  # the daemon is not short of threads
    finally:
        if held is not None:
            os.close(held)
