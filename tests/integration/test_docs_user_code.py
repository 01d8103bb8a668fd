"""The docs' "Your own model and data set" example (docs/your-model.md), run as written: in memory and streamed."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.cli_helpers import powertrain
from tests.docs_pages import code_blocks


def example_files() -> dict[str, str]:
    """Code blocks whose first line is a comment naming their file (``# models.py``)."""
    blocks = [body for lang in ("python", "yaml") for _, body in code_blocks(lang)]
    return {
        body.split("\n", 1)[0][2:]: body.split("\n", 1)[1]
        for body in blocks
        if re.fullmatch(r"# \S+", body.split("\n", 1)[0])
    }


@pytest.mark.parametrize("loader", ["load", "load_streamed"])
def test_the_docs_example_of_your_own_model_and_data_reaches_its_target(tmp_path, loader):
    files = example_files()
    assert {"models.py", "data.py", "mine.yaml"} <= set(files)
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    study = tmp_path / "mine.yaml"
    study.write_text(study.read_text().replace("./data.py:load ", f"./data.py:{loader} "))
    assert f"./data.py:{loader} " in study.read_text()
    db = tmp_path / "r.db"
    run = powertrain("run", "mine.yaml", "--db", str(db), cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    with sqlite3.connect(db) as con:
        statuses = [s for (s,) in con.execute("SELECT status FROM runs")]
    assert statuses == ["reached", "reached"], statuses
