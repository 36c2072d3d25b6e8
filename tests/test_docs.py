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
