"""The CI guard: a skip for any reason but missing hardware fails under CI, and only there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

SKIPPING = """
import pytest

def test_hardware():
    pytest.skip("needs hardware: an NVIDIA GPU")

def test_browser():
    pytest.skip("no Chromium")

@pytest.mark.skipif(True, reason="scipy missing")
def test_marked():
    pass

@pytest.mark.xfail(reason="a known bug", strict=False)
def test_expected_failure():
    assert False

def test_passes():
    pass
"""

MODULE_SKIP = """
import pytest
pytest.importorskip("a_package_that_is_not_there")

def test_never_runs():
    pass
"""


def run_pytest(tmp_path: Path, ci: bool, name: str, source: str) -> str:
    """The summary line (and the output) of pytest run on one test file with our conftest."""
    (tmp_path / name).write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / name),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    return run.stdout


@pytest.mark.parametrize("ci", [True, False])
def test_ci_turns_every_non_hardware_skip_into_a_failure(tmp_path, ci):
    out = run_pytest(tmp_path, ci, "test_skipping.py", SKIPPING)
    summary = out.strip().splitlines()[-1]
    if ci:
        # A skip in the test fails it; a skip mark (taken at setup) errors it: either fails the run.
        assert "1 failed" in summary and "1 error" in summary, out
        assert "1 passed" in summary and "1 skipped" in summary, out
        assert "1 xfailed" in summary
        assert "no Chromium" in out and "scipy missing" in out
    else:
        assert " failed" not in summary and "3 skipped" in summary, out


@pytest.mark.parametrize("ci", [True, False])
def test_ci_fails_a_module_skipped_at_collection(tmp_path, ci):
    out = run_pytest(tmp_path, ci, "test_module_skip.py", MODULE_SKIP)
    summary = out.strip().splitlines()[-1]
    if ci:
        assert "1 error" in summary and "a_package_that_is_not_there" in out, out
    else:
        assert "1 skipped" in summary, out
