"""A PM2 command ptm does not have is refused in one line saying what to use instead, for every
PM2 command of docs/coming-from-pm2.md; a mistyped ptm command gets the closest one."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from supervisor_core.cli._main import build_parser, main
from supervisor_core.cli._unknown import pm2_hint

PAGE = Path(__file__).parent.parent / "docs" / "coming-from-pm2.md"


def pm2_commands() -> list[str]:
    """Every PM2 command word in the first column of the page's "Commands" table."""
    section = PAGE.read_text().split("\n## Commands\n", 1)[1]
    words: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| PM2 |"):
            continue
        first = re.split(r"(?<!\\)\|", line)[1]
        for code in re.findall(r"`([^`]+)`", first):
            word = code.split()[1] if code.startswith("pm2 ") else code
            if word.startswith("-") or code.startswith("pm2-"):
                continue  # a flag, or another program (pm2-runtime)
            words.add(word.replace("*", "install"))  # module:* -> module:install
    return sorted(words)


def ptm_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_the_page_lists_the_commands_of_the_guide() -> None:
    words = pm2_commands()
    for word in ("start", "list", "describe", "logs", "monit", "show", "set", "flush", "ps"):
        assert word in words
    assert len(words) > 60, words


@pytest.mark.parametrize("word", pm2_commands())
def test_every_pm2_command_is_ptms_or_says_what_to_use_instead(
    word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if word in ptm_commands():
        assert pm2_hint(word) is None, word  # never a hint for a command ptm has
        return
    hint = pm2_hint(word)
    assert hint is not None, f"pm2 {word}: neither a ptm command nor a hint"
    with pytest.raises(SystemExit) as exited:
        main([word, "point-tron"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"ptm: {word!r} is a PM2 command, not ptm's: {hint}\n"


def test_the_guides_pm2_set_names_the_ecosystem_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["set", "point-tron", "max-restarts", "5"])
    err = capsys.readouterr().err
    assert "did you mean" not in err  # it used to suggest `reset`, which zeroes counters
    assert "ecosystem file" in err and "max_restarts" in err and "ptm start FILE" in err


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("restat", "unknown command 'restat'; did you mean restart?"),
        ("frobnicate", "unknown command 'frobnicate' (see: ptm --help)"),
    ],
)
def test_a_word_pm2_does_not_have_either_gets_the_closest_command(
    word: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([word])
    assert capsys.readouterr().err == f"ptm: {message}\n"


@pytest.mark.parametrize("verb", ["restart", "reload"])
def test_pm2s_restart_file_env_says_to_use_start(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """PM2's ``pm2 restart ecosystem.config.js --env production`` is a common habit; ptm's
    restart takes no file overlay, so the usage error says which command does."""
    with pytest.raises(SystemExit) as exited:
        main([verb, "ecosystem.toml", "--env", "production"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --env production; " in err
    assert "use ptm start FILE --env NAME" in err
