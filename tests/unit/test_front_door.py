"""The README is a front door: the two commands first, a pip install line, a short page whose links
all lead somewhere (the site's own links are checked by `make docs`, which builds it --strict)."""

from __future__ import annotations

import re

from tests.docs_pages import README, ROOT, code_blocks


def test_the_readme_starts_with_make_demo_and_make_test_and_stays_short():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 150
    first_block = code_blocks("sh")[0]
    assert first_block[0] == README
    assert first_block[1].startswith("make demo") and "\nmake test" in first_block[1]
    assert text.index("make demo") < text.index("\n## ")  # before any section
    assert re.search(r"^pip install ", text, flags=re.M)


def test_every_link_of_the_readme_leads_to_a_file_of_the_repository():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    assert len(targets) >= 10
    for target in targets:
        assert not target.startswith("http"), target  # the site and the files travel with the clone
        assert (ROOT / target).is_file(), target


def test_the_long_description_makes_the_readmes_links_absolute_or_plain_text():
    """What PyPI shows (setup.py, at build time): no relative link, which leads nowhere there."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("powertrain_build", ROOT / "setup.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)  # not as __main__: defines, builds nothing
    readme = README.read_text()
    urls = {
        "Documentation": "https://docs.example.org/powertrain/",
        "Repository": "https://github.com/example/powertrain",
    }
    page = build.long_description(readme, urls)
    assert "[energy-aware search](https://docs.example.org/powertrain/energy-search/)" in page
    assert "(https://docs.example.org/powertrain/reference/)" in page  # reference/index.md
    assert "(https://github.com/example/powertrain/raw/HEAD/docs/run-done.png)" in page
    assert page.count("](") == readme.count("](")  # every link kept
    assert not re.findall(r"\]\((?!https://)", page)
    bare = build.long_description(readme, {})  # no address declared: the text, no link
    assert "](" not in bare and "energy-aware search" in bare
    assert (
        build.long_description("[a](https://x.org/a) [b](#b)", {}) == "[a](https://x.org/a) [b](#b)"
    )
    titled = build.long_description('[a](docs/meters.md "Meters") [b](/Makefile)', urls)
    assert titled == (
        '[a](https://docs.example.org/powertrain/meters/ "Meters") '
        "[b](https://github.com/example/powertrain/blob/HEAD/Makefile)"
    )


def test_the_command_line_reference_lists_every_command_and_nothing_else():
    from powertrain.cli import cli

    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    listed = set(re.findall(r"^\| `powertrain ([a-z]+)` \|", page, flags=re.M))
    missing, gone = set(cli.commands) - listed, listed - set(cli.commands)
    assert not missing, f"give these commands a row in docs/reference/cli.md: {sorted(missing)}"
    assert not gone, f"docs/reference/cli.md lists commands that are not there: {sorted(gone)}"
