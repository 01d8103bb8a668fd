"""Render a terminal capture (text with ANSI colours, e.g. `tmux capture-pane -e -p`) to SVG with rich,
then to PNG with headless Chromium. Usage: python docs/ansi_to_png.py CAPTURE.ansi OUT.png [COLUMNS] [TITLE]
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--hide-scrollbars",
]


def ansi_to_svg(ansi: str, columns: int, title: str) -> str:
    console = Console(record=True, width=columns, file=io.StringIO(), force_terminal=True)
    lines = ansi.rstrip("\n").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    console.print(Text.from_ansi("\n".join(lines)), soft_wrap=True)
    console.print()  # a blank last line, so that the frame does not clip the descenders
    return console.export_svg(title=title)


def svg_to_png(svg: str, png: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: install it (apt-get install chromium) to render PNGs")
    width, height = (
        int(float(v)) + 1 for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups()
    )
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "capture.html"
        page.write_text(f"<html><body style='margin:0;background:#fff'>{svg}</body></html>")
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{height}",
                f"--screenshot={png.resolve()}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    capture, out = Path(sys.argv[1]), Path(sys.argv[2])
    columns = int(sys.argv[3]) if len(sys.argv) > 3 else 110
    title = sys.argv[4] if len(sys.argv) > 4 else "powertrain run"
    svg = ansi_to_svg(capture.read_text(errors="replace"), columns, title)
    out.with_suffix(".svg").write_text(svg)
    svg_to_png(svg, out)
    print(out)


if __name__ == "__main__":
    main()
