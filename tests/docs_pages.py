"""The documentation's pages, README.md and every page of the site under docs/, and their code blocks:
the tests run them as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def pages() -> list[Path]:
    """README.md, then every Markdown page of the site, in a fixed order."""
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def code_blocks(language: str) -> list[tuple[Path, str]]:
    """(page, body) of every fenced block in ``language``, indented ones (inside a list) included."""
    found = []
    for page in pages():
        for indent, body in re.findall(
            rf"^( *)```{language}\n(.*?)^\1```", page.read_text(), flags=re.S | re.M
        ):
            lines = body.splitlines(keepends=True)
            found.append((page, "".join(line[len(indent) :] for line in lines)))
    return found


def python_snippets() -> list[str]:
    """Every Python block of the docs, each once (the README repeats one of the site's)."""
    return list(dict.fromkeys(body for _, body in code_blocks("python")))


def block_starting(language: str, first_line: str) -> str:
    """The one block in ``language`` whose first line is ``first_line`` (a file's name, say)."""
    matching = [body for _, body in code_blocks(language) if body.startswith(first_line)]
    assert len(matching) == 1, (
        f"the docs have {len(matching)} {language} blocks starting {first_line!r}"
    )
    return matching[0]
