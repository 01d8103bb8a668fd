"""Every Python snippet of the docs (README.md and the site's pages) runs as written, each in a fresh
process (with a tiny study standing in for the quickstart)."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.docs_pages import python_snippets

TINY_STUDY = {
    "name": "quickstart",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [16]},
        "target_accuracy": 0.8,
        "eval_every_steps": 10,
        "max_epochs": 1,
    },
    "grid": {"learning_rate": [0.1]},
    "seeds": [0],
}
TRAIN_ONE_EPOCH = "def train_one_epoch():\n    sum(i * i for i in range(200_000))\n\n"


def test_every_python_snippet_in_the_docs_runs(tmp_path):
    snippets = python_snippets()
    assert len(snippets) >= 10
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "quickstart.yaml").write_text(yaml.safe_dump(TINY_STUDY))
    for i, snippet in enumerate(snippets):
        script = tmp_path / f"snippet_{i}.py"
        script.write_text(TRAIN_ONE_EPOCH + snippet)
        run = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, f"docs snippet {i} failed:\n{snippet}\n{run.stderr[-2000:]}"
    assert (tmp_path / "runs" / "report" / "report.html").is_file()
