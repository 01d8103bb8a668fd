"""Build-time only: the package's long description, which PyPI shows as the project's page, is
README.md with its relative links made absolute, since a link such as ``docs/studies.md`` leads
nowhere on PyPI. They are made absolute against the addresses of pyproject.toml's ``[project.urls]``:
a page of the site (``docs/NAME.md``) against ``Documentation`` (the mkdocs site: ``BASE/NAME/``),
any other file against ``Repository`` (or ``Source``) as GitHub shows it (``BASE/blob/HEAD/PATH``, an
image ``BASE/raw/HEAD/PATH``). A relative link with no address to make it absolute becomes its text
(an image its description): the page then has no link that leads nowhere. README.md itself keeps its
relative links, which work in a clone and on the repository's own page. Everything else about the
package is declared in pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent
LINK = re.compile(r'(!?)\[([^\]]*)\]\(([^)\s]+)(\s+"[^"]*")?\)')  # [text](target "title")
ABSOLUTE = re.compile(r"^([a-z][a-z0-9+.-]*:|#)", re.I)  # a scheme (https:, mailto:), an anchor


def absolute_url(target: str, urls: dict[str, str], image: bool = False) -> str | None:
    """Where the relative ``target`` of README.md is published, or None where no address says."""
    path, _, anchor = target.partition("#")
    path = path.lstrip("/")  # root-relative: from the repository's root, as GitHub reads it
    anchor = f"#{anchor}" if anchor else ""
    site = urls.get("Documentation", "").rstrip("/")
    repository = (urls.get("Repository") or urls.get("Source") or "").rstrip("/")
    if site and path.startswith("docs/") and path.endswith(".md"):
        page = path.removeprefix("docs/").removesuffix(".md")
        page = (
            page.removesuffix("index") if page == "index" or page.endswith("/index") else f"{page}/"
        )
        return f"{site}/{page}{anchor}"
    if repository:
        return f"{repository}/{'raw' if image else 'blob'}/HEAD/{path}{anchor}"
    return None


def long_description(readme: str, urls: dict[str, str]) -> str:
    """``readme`` with every relative link made absolute (``absolute_url``), or its text."""

    def one(match: re.Match) -> str:
        bang, text, target, title = match.groups()
        if ABSOLUTE.match(target):
            return match.group(0)
        url = absolute_url(target, urls, image=bool(bang))
        return f"{bang}[{text}]({url}{title or ''})" if url else text

    return LINK.sub(one, readme)


if __name__ == "__main__":  # as the build runs it
    from setuptools import setup

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup(
        long_description=long_description(readme, project.get("urls", {})),
        long_description_content_type="text/markdown",
    )
