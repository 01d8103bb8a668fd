"""Where the two kinds of refusal of a tracked run's writes meet: a point another error refused
(``unrecorded.py``), then a lock at the run's end (``pending.py``). The end is tried against the
lock as one, the refused points with it, and the run kept beside the store says truly what it holds."""

from __future__ import annotations

import sqlite3

import pytest

from powertrain import open_store, track
from powertrain.errors import PowertrainError
from powertrain.records import REACHED
from powertrain.store import sqlite as sqlite_store
from powertrain.store import sqlite_open
from powertrain.store.pending import END_TRIES
from powertrain.store.sqlite import SqliteStore
from tests.fakes.meters import cpu_estimate


@pytest.fixture
def quick_lock(monkeypatch):
    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.1)  # the wait for a lock, shortened


def meters(clock):
    return cpu_estimate(clock)


def test_points_refused_by_a_full_disk_then_a_lock_at_the_end_wait_once_and_are_kept_beside(
    tmp_path, clock, quick_lock, monkeypatch
):
    """Each refused point tried alone against the lock would wait the store's wait for it (30 s
    by default), one after another, before the end's own tries; and the run kept beside the store,
    which holds every point, would say its curve is incomplete."""
    db = tmp_path / "runs.db"
    add, full = SqliteStore.add_eval_point, {1, 2}

    def filling(self, run_id, point):
        if point.index in full:
            full.discard(point.index)
            raise OSError(28, "No space left on device")
        return add(self, run_id, point)

    waits = []
    said = sqlite_store.locked_error

    def counted(path, waited_s):
        waits.append(waited_s)
        return said(path, waited_s)

    monkeypatch.setattr(SqliteStore, "add_eval_point", filling)
    monkeypatch.setattr(sqlite_store, "locked_error", counted)
    other = None
    try:
        with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run:
            for accuracy in (0.5, 0.6, 0.7, 0.95):
                clock.advance(1.0)
                run.evaluate(val_accuracy=accuracy)
            other = sqlite3.connect(str(db), isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # held through the run's end
    finally:
        if other is not None:
            other.rollback()
            other.close()
    assert len(waits) == 1 + END_TRIES  # the lock first met, then the end's tries: not one each
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    with open_store(kept) as side:
        [record] = side.runs("s")
        assert record.status == REACHED
        assert [p.index for p in side.eval_points(record.id)] == [0, 1, 2, 3]
        assert not [f for f in record.outcome.faults if "not recorded" in f]
        assert any(
            "2 of 4" in f and "written when the run ended" in f for f in record.outcome.faults
        )


def test_a_ray_retry_counts_a_failed_attempt_whose_end_was_kept_beside_a_locked_store(
    tmp_path, clock, quick_lock, monkeypatch
):
    """Ray Tune retries a trial whose failed end met a lock (kept beside the store, its attempt
    unfinished in it): the retry counts that attempt's joules as it counts a failed one's, where
    they went unnoticed (the retry began afresh) and merging the copy later added nothing."""
    from powertrain.integrations import ray_tune
    from powertrain.tracking import attempts

    db = tmp_path / "runs.db"
    with (
        pytest.raises(ValueError),
        track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run,
    ):
        clock.advance(3.0)  # 30 J, in the kept copy's outcome only
        other = sqlite3.connect(str(db), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        raise ValueError("a node went away")
    other.rollback()
    other.close()
    note = tmp_path / "trial-note.json"
    monkeypatch.setattr(ray_tune, "_note_path", lambda study, run_key: note)
    ray_tune._write_note(note, {"run_id": run.run_id})
    report = ray_tune.TuneReport({"accuracy": 0.9})
    with open_store(db) as store:
        assert report.retries_failed(store, "s", run.tracker.run_key)
        earlier = attempts.retried_by_tool(store, "s", run.tracker.run_key)
    assert report.failed["powertrain_failed_attempts_j"] == pytest.approx(30.0)
    assert earlier.energy_j == {"cpu": pytest.approx(30.0)} and not earlier.unfinished


def test_a_run_kept_beside_the_store_is_found_finished_when_tracked_again_before_its_merge(
    tmp_path, clock, quick_lock, caplog
):
    """Its end kept beside a locked store, the run is unfinished in the store until the copy is
    merged back. Tracked again meanwhile with ``if_finished="skip"``, it is skipped, as it would
    be once merged, and the line says to merge the copy; it was trained again, and the merge then
    left its key with two finished runs, both counted."""
    db = tmp_path / "runs.db"
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run:
        clock.advance(1.0)
        other = sqlite3.connect(str(db), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        assert run.evaluate(val_accuracy=0.95)
    other.rollback()
    other.close()
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    again = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock), if_finished="skip")
    with caplog.at_level("WARNING", logger="powertrain"), again as second:
        assert second.skipped and second.outcome.status == REACHED
    assert any(f"powertrain merge {kept}" in r.getMessage() for r in caplog.records)
    with pytest.raises(PowertrainError, match="already finished"):
        track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)).start()


def test_a_spawned_rank_0_hands_its_run_back_through_a_lock_and_nothing_is_lost(
    tmp_path, quick_lock
):
    """A spawned rank 0 (Lightning's ddp_spawn) whose store stays locked from its first evaluation
    through its end: its training goes on, its end raises nothing into the user's fit, and its
    points and verdict reach the parent, which records them once the store is free. It raised
    StoreLocked from its end, and the parent failed the run without a point."""
    import pickle

    db = tmp_path / "runs.db"
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, device="cpu") as run:
        spawned = pickle.loads(pickle.dumps(run))
        other = sqlite3.connect(str(db), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert not spawned.evaluate(0.5, step=1)
            assert spawned.evaluate(0.95, step=2)
            spawned.close()
        finally:
            other.rollback()
            other.close()
    with open_store(db) as store:
        [record] = store.runs("s")
        assert record.status == REACHED
        assert [p.step for p in store.eval_points(record.id)] == [1, 2]
    assert not list(tmp_path.glob("runs.handback-*"))  # taken back, and gone
    assert not list(tmp_path.glob("runs.unrecorded-*"))  # its waiting points' copy: gone too


def test_a_point_a_spawned_rank_could_not_record_is_named_in_the_runs_faults(tmp_path, monkeypatch):
    """A spawned rank 0's point refused for ever (not a lock): the run its parent writes says what
    its stored curve lacks, as a run of one process does; it was only a warning in the spawned
    process, and the record passed for whole."""
    import pickle

    add = SqliteStore.add_eval_point

    def refusing(self, run_id, point):
        if point.index == 0:
            raise OSError(28, "No space left on device")
        return add(self, run_id, point)

    with track("s", {"lr": 0.1}, 0, 0.9, db=tmp_path / "runs.db", device="cpu") as run:
        spawned = pickle.loads(pickle.dumps(run))
        monkeypatch.setattr(SqliteStore, "add_eval_point", refusing)
        spawned.evaluate(0.5, step=1)
        spawned.evaluate(0.95, step=2)
        spawned.close()
    with open_store(tmp_path / "runs.db") as store:
        [record] = store.runs("s")
        assert [p.step for p in store.eval_points(record.id)] == [2]
    [note] = [f for f in record.outcome.faults if "not recorded" in f]
    assert "1 of 2" in note and "No space left" in note


def test_a_spawned_rank_0_whose_hand_back_the_store_refuses_otherwise_ends_no_fit(
    tmp_path, monkeypatch
):
    """The store refuses the spawned rank 0's verdict for another reason than a lock (a full
    disk, say): its end raises nothing into the user's fit, and the verdict reaches the parent
    through the file beside the store, as through a lock."""
    import pickle

    def refusing(self, *args):
        raise OSError(28, "No space left on device")

    with track("s", {"lr": 0.1}, 0, 0.9, db=tmp_path / "runs.db", device="cpu") as run:
        spawned = pickle.loads(pickle.dumps(run))
        spawned.evaluate(0.5, step=1)
        assert spawned.evaluate(0.95, step=2)
        with monkeypatch.context() as patched:
            patched.setattr(SqliteStore, "post_rank_message", refusing)
            spawned.close()
    with open_store(tmp_path / "runs.db") as store:
        [record] = store.runs("s")
    assert record.status == REACHED
