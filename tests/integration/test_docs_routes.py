"""The docs' examples for your own loop (track, Lightning, HF Trainer, Keras) each reach their
target, and their runs land in one store that the report reads. test_docs_snippets runs every snippet in a
fresh process; this runs these four in-process (the frameworks are loaded once) to check the outcome."""

from __future__ import annotations

import contextlib
import io

from powertrain import build_report, open_store
from powertrain.records import REACHED
from tests.docs_pages import python_snippets


def test_each_route_in_the_docs_reaches_its_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    routes = [s for s in python_snippets() if "powertrain.track(" in s]
    assert len(routes) == 4  # track, Lightning, HF Trainer, Keras
    for snippet in routes:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(snippet, "docs/your-loop.md", "exec"), {"__name__": "__main__"})  # noqa: S102
        assert out.getvalue().strip().splitlines()[-1].startswith("reached"), snippet
    with open_store(tmp_path / "runs" / "powertrain.db") as store:
        runs = store.runs()
        assert sorted(r.study for r in runs) == ["mine", "mine-hf", "mine-keras", "mine-lightning"]
        assert all(r.status == REACHED for r in runs)
        assert len(build_report(store, tmp_path / "report").groups) == 4
