"""``powertrain run`` (``run_study``) beside another process that holds its SQLite store locked
mid-run: the training went on fine, yet the run was recorded FAILED (the point the store refused
ended the training loop as the model's own error would). Now its points wait for the lock as a
tracked run's do, and an end the store still refuses is kept beside it, never a FAILED record."""

from __future__ import annotations

import pytest

from powertrain import open_store
from powertrain.meters.detect import detect_meters
from powertrain.records import CENSORED, RUNNING
from powertrain.store import sqlite_open
from powertrain.store.merge import merge_stores
from powertrain.study.config import parse_study
from powertrain.study.runner import run_study
from tests.unit.test_track_locked import hold

#: One run that trains its one epoch (the target is out of reach), evaluating every 10 steps.
STUDY = {
    "name": "locked",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [16]},
        "target_accuracy": 0.999,
        "eval_every_steps": 10,
        "max_epochs": 1,
    },
    "grid": {"learning_rate": [0.05]},
    "train": {"batch_size": 32},
    "threads": 1,
    "meters": {"backends": ["estimate"]},
}


@pytest.fixture
def quick_lock(monkeypatch):
    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.2)


def run_locked(tmp_path, lock_from: int, free_at: int | None):
    """Runs the study; another connection holds the store locked from evaluation ``lock_from``
    (after the store has it) until evaluation ``free_at`` (None: past the end). The store's path,
    the outcome and how many evaluations the run made."""
    db, held, seen = tmp_path / "runs.db", [], []

    def lock(point):
        seen.append(point.index)
        if point.index == lock_from:
            held.append(hold(db))
        elif point.index == free_at and held:
            held.pop().rollback()
        return None

    try:
        with open_store(db) as store:
            result = run_study(
                parse_study(STUDY), store, detection=detect_meters(["estimate"]),
                artifacts_dir=tmp_path / "artifacts", stops=lambda spec: [lock],
            )  # fmt: skip
    finally:
        for other in held:
            other.rollback()
            other.close()
    [outcome] = result.outcomes
    assert seen == list(range(len(seen)))
    return db, outcome, len(seen)


def test_points_a_locked_store_refuses_wait_and_the_run_is_recorded_as_it_trained(
    tmp_path, quick_lock
):
    db, outcome, evaluations = run_locked(tmp_path, lock_from=0, free_at=2)
    assert outcome.status == CENSORED and outcome.error is None
    with open_store(db) as store:
        [record] = store.runs("locked")
        assert record.status == CENSORED
        indices = [p.index for p in store.eval_points(record.id)]
    assert indices == list(range(evaluations)) and evaluations > 2
    assert list(tmp_path.glob("runs.unrecorded-*")) == []


def test_an_end_the_locked_store_refuses_is_kept_beside_it_not_failed(tmp_path, quick_lock, caplog):
    db, outcome, evaluations = run_locked(tmp_path, lock_from=0, free_at=None)
    assert outcome.status == CENSORED and outcome.error is None
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert f"powertrain merge {kept}" in caplog.text
    with open_store(db) as store:
        assert [r.status for r in store.runs("locked")] == [RUNNING]
    with open_store(kept) as side:
        [record] = side.runs("locked")
        assert record.status == CENSORED and record.outcome.error is None
        assert [p.index for p in side.eval_points(record.id)] == list(range(evaluations))
        assert side.timeline(record.id) is not None
    merged = merge_stores([kept], db)  # this process, which holds the run there, still lives
    assert (merged.runs, merged.held) == (0, 1) and "merge again once it has ended" in merged.says()


def test_a_study_run_again_does_not_train_twice_a_run_whose_end_was_kept_beside(
    tmp_path, quick_lock, caplog
):
    """Run again once the lock was gone, the study trained that run a second time (its attempt
    was unfinished in the store), and merging the copy after left two finished attempts of it."""
    db, _, _ = run_locked(tmp_path, lock_from=0, free_at=None)
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    caplog.clear()
    with open_store(db) as store:
        again = run_study(
            parse_study(STUDY), store, detection=detect_meters(["estimate"]),
            artifacts_dir=tmp_path / "artifacts",
        )  # fmt: skip
    assert again.ran == 0
    assert f"not merged back yet (powertrain merge {kept}" in caplog.text
