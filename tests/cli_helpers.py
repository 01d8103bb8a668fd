"""Run the real command line in a subprocess, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys


def powertrain(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "powertrain.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def last_json(stdout: str) -> dict:
    """The JSON a command printed: the whole of stdout (``--json``: one indented document), or its
    last line (``measure --json``, after the command's own output)."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def assert_one_clear_error(run: subprocess.CompletedProcess, *fragments: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
