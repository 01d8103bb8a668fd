"""A live search's bookkeeping as a user meets it: another process holding one of its runs, the
words of its summary, a kill between a pause's checkpoint and its record, and the priced span of a
cost-axis value's run that was trained again from scratch."""

from __future__ import annotations

import psutil
import pytest
import yaml

from powertrain.store import open_store
from powertrain.store.claims import Owner, this_host
from powertrain.study.plan import run_spec
from tests.cli_helpers import powertrain
from tests.integration.test_live_search import STUDY, study

HALVING = {**STUDY, "search": {"strategy": "halving", "eta": 2}}


def held_by_another_process(db, s) -> str:
    """One of ``s``'s runs begun in ``db`` by a live process that is not this one (pid 1)."""
    with open_store(db) as store:
        store.save_study(s.name, s.to_dict())
        store.owner = Owner(this_host(), 1, psutil.Process(1).create_time())
        spec = run_spec(s, s.setups()[0], 0)
        store.begin_run(spec, {}, {})
    return spec.run_key


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_a_search_refused_a_run_another_process_holds_says_only_why(tmp_path, workers):
    # Before: "skipped: run ... is being trained by process 1" came first, then the refusal.
    path, db = tmp_path / "study.yaml", tmp_path / "r.db"
    path.write_text(yaml.safe_dump(HALVING))
    key = held_by_another_process(db, study())
    run = powertrain("run", str(path), "--db", str(db), *workers, timeout=240)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "skipped" not in run.stderr, run.stderr
    (error,) = [line for line in run.stderr.splitlines() if "error" in line]
    assert key in error and "needs its study to itself" in error
