"""mkdocs hook: ``<!-- readme: TITLE -->`` on a line of its own becomes the body of the
README's ``## TITLE`` section, and ``<!-- readme figures: NAME -->`` the README's
generated block ``NAME`` (``fleetsim.tools.figures``), so a page shows the README's study
figures without a hand-made copy. Links into ``docs/`` are made relative to the page, and
lists nested by two spaces (GitHub's markdown) by four (Python-Markdown's)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
INCLUDE = re.compile(r"^<!-- readme(?P<figures> figures)?: (?P<title>.+?) -->$", re.M)


def section(text: str, title: str) -> str:
    """The body of ``## title`` in ``text``, up to the next heading of level 1 or 2 outside
    a code fence."""
    body, inside, fenced = [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,2} ", line):
            if inside:
                break
            inside = line == f"## {title}"
        elif inside:
            body.append("  " + line if not fenced and re.match(r"  +[-*] ", line) else line)
    if not body:
        raise ValueError(f"README.md has no section '## {title}'")
    return "\n".join(body).strip("\n")


def figures(text: str, name: str) -> str:
    """The generated block ``name`` in ``text``, dedented."""
    match = re.search(rf"<!-- figures: {re.escape(name)} -->\n(?P<body>.*?)<!-- /figures -->", text, re.S)
    if match is None:
        raise ValueError(f"README.md has no figures block '{name}'")
    return textwrap.dedent(match["body"]).strip("\n")


def _include(text: str, match: re.Match) -> str:
    return figures(text, match["title"]) if match["figures"] else section(text, match["title"])


def on_page_markdown(markdown: str, page, config, files) -> str:
    text = README.read_text(encoding="utf-8")
    up = "../" * page.file.src_uri.count("/")
    return INCLUDE.sub(lambda m: _include(text, m).replace("](docs/", "](" + up), markdown)
