"""The user's guide holds together: its links lead somewhere, and docs/cli.md, which the
README calls the list of every command, names every command."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (a ``](x)`` in code is not a link)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``: lower case, punctuation dropped,
    spaces as ``-``."""
    anchors = set()
    for line in _prose(page.read_text()).splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            text = heading.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_every_link_of_the_guide_leads_somewhere() -> None:
    broken = []
    for page in PAGES:
        for link in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text())):
            if re.match(r"[a-z]+:", link):
                continue  # https://..., mailto:
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.name}: {link}: no such file")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
                broken.append(f"{page.name}: {link}: no such heading in {target.name}")
    assert broken == []


def test_the_command_guide_names_every_command() -> None:
    from supervisor_core.cli._main import _COMMANDS

    text = (REPO / "docs" / "cli.md").read_text()
    missing = [c for c in sorted(set(_COMMANDS) - {"daemon"}) if f"`ptm {c}" not in text]
    assert missing == []


def test_the_describe_example_shows_every_setting_describe_shows(tmp_path: Path) -> None:
    from supervisor_core.cli._describe import _spec_lines
    from supervisor_core.config import build_app
    from supervisor_core.daemon._views import spec_view

    (tmp_path / "server.py").write_text("")
    spec = build_app({"name": "api", "script": "server.py"}, base_dir=tmp_path, caller_env={})
    real = [line.split()[0] for line in _spec_lines(spec_view(spec)) if line.strip()]
    doc = (REPO / "docs" / "cli.md").read_text()
    example = doc.split("$ ptm describe api\n", 1)[1].split("\n```", 1)[0]
    config = example.split("\nConfig\n", 1)[1].split("\nEnvironment\n", 1)[0]
    assert [line.split()[0] for line in config.splitlines() if line.strip()] == real


def test_every_ptm_command_line_of_the_guide_has_only_real_options() -> None:
    """A command copied from the guide is not refused for an option or a command that does
    not exist (``ptm logs -f`` was: ``ptm logs`` follows by itself)."""
    import contextlib
    import io
    import shlex

    from supervisor_core.cli._main import _split_script_args, build_parser

    wrong = []
    for page in PAGES:
        text = page.read_text()
        lines = re.findall(r"`(ptm [^`]+)`", text) + re.findall(r"^\$ (ptm .*)$", text, re.M)
        for line in lines:
            line = re.split(r" #|[|>]|&&", line)[0].strip()
            if re.search(r"\[|…|\.\.\.", line):
                continue  # a synopsis, not a command line
            try:
                words = shlex.split(line)[1:]
            except ValueError:
                continue
            errors = io.StringIO()
            try:
                with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                    build_parser().parse_args(_split_script_args(words)[0])
            except SystemExit:
                said = errors.getvalue()
                if "unrecognized arguments" in said or "unknown command" in said:
                    wrong.append(f"{page.name}: {line}: {said.strip()}")
    assert wrong == []
