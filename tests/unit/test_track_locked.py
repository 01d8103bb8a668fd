"""A tracked run beside another process on its SQLite store. One that holds the store locked past the
wait for it: the training goes on and nothing it recorded is lost (its points wait in memory, said
once, and are written at the next evaluation the store takes; an end the store still refuses is kept
in a store of its own beside it, said with the command that merges it back). One that tracks, or
has just finished, the same run: one clear line, or the skip asked for."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from powertrain import open_store, track
from powertrain.errors import PowertrainError
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import REACHED, RUNNING
from powertrain.store import sqlite_open
from powertrain.store.merge import merge_stores
from tests.fakes.meters import ConstantPowerMeter


@pytest.fixture
def quick_lock(monkeypatch):
    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.2)  # the wait for a lock, shortened


def meters(clock):
    return Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )


def hold(db) -> sqlite3.Connection:
    """Another writer's open transaction on the store (a second connection, as another process's)."""
    other = sqlite3.connect(str(db), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_points_a_locked_store_refuses_are_kept_and_written_once_it_frees(
    tmp_path, clock, quick_lock, caplog
):
    db = tmp_path / "runs.db"
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock))
    with caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.5)
        other = hold(db)
        for accuracy in (0.6, 0.7):
            clock.advance(1.0)
            assert not run.evaluate(val_accuracy=accuracy)  # no traceback, training goes on
        other.rollback()
        other.close()
        clock.advance(1.0)
        assert run.evaluate(val_accuracy=0.95)
    said = [r.getMessage() for r in caplog.records if "locked" in r.getMessage()]
    assert len(said) == 1 and "another process" in said[0] and "postgresql://" in said[0]
    with open_store(db) as store:
        [record] = store.runs("s")
        assert record.status == REACHED
        assert [p.val_accuracy for p in store.eval_points(record.id)] == [0.5, 0.6, 0.7, 0.95]


#: A user's script whose store another program holds locked from its last evaluation to its exit.
LOCKED_AT_THE_END = """
import os, sqlite3, sys
from powertrain import track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.store import sqlite_open
from tests.conftest import FakeClock
from tests.fakes.meters import ConstantPowerMeter

sqlite_open.BUSY_TIMEOUT_S = 0.2
clock, db = FakeClock(), sys.argv[1]
meters = Detection({Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)})
with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters, device="cpu") as run:
    clock.advance(1.0)
    held = sqlite3.connect(db, isolation_level=None)  # referenced: a collected one lets go
    held.execute("BEGIN IMMEDIATE")  # held to the exit
    os.makedirs("elsewhere")
    os.chdir("elsewhere")  # the store's file is still the one it opened
    assert run.evaluate(val_accuracy=0.95)
print("training went on")
"""


def test_an_end_the_store_still_refuses_is_kept_beside_it_and_merges_back(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    db = tmp_path / "runs.db"
    done = subprocess.run(
        [sys.executable, "-c", LOCKED_AT_THE_END, "runs.db"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0 and "training went on" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert f"powertrain merge {kept} -o runs.db" in done.stderr
    with open_store(kept) as side:
        [record] = side.runs("s")
        assert record.status == REACHED and len(side.eval_points(record.id)) == 1
    with open_store(db) as store:
        assert [r.status for r in store.runs("s")] == [RUNNING]  # its process gone: it gives way
    assert merge_stores([kept], db).runs == 1
    with open_store(db) as store:
        [record] = store.runs("s")
        assert record.status == REACHED and len(store.eval_points(record.id)) == 1


def test_a_store_locked_before_the_run_begins_is_one_clear_error(tmp_path, clock, quick_lock):
    db = tmp_path / "runs.db"
    open_store(db).close()
    other = hold(db)
    try:
        tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock))
        with pytest.raises(PowertrainError, match="locked by another process.*postgresql://"):
            tracked.start()
    finally:
        other.rollback()
        other.close()


def test_a_heartbeat_that_meets_a_lock_is_skipped_and_the_next_one_beats(tmp_path, monkeypatch):
    """A heartbeat thread that stopped at a lock would let the claim lapse while the run trains."""
    import time

    from powertrain.store.sqlite import SqliteStore

    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 3.0)
    store = SqliteStore(tmp_path / "runs.db")
    try:
        other = hold(store.path)
        began = time.monotonic()
        store.heartbeat([1])  # skipped, not raised (the thread would end at an error) ...
        assert time.monotonic() - began < 1.0  # ... nor the store held for the whole wait
        other.rollback()
        other.close()
        store.heartbeat([1])
    finally:
        store.close()


def test_a_run_another_live_process_tracks_is_one_clear_error_saying_what_to_do(tmp_path, clock):
    from powertrain.store.claims import Owner
    from powertrain.tracking import store as db_

    db = tmp_path / "runs.db"
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock))
    with open_store(db) as store:
        store.owner = Owner("another-host", 4242, 1.0)  # alive while its heartbeat is fresh
        db_.save_study(store, db_.study_config("s", tracked.targets, "m", "d"))
        db_.begin_run(store, "s", tracked.run_key, tracked.setup, tracked.train, 0, {}, {}, False)
    with pytest.raises(PowertrainError, match="another process. Track another seed"):
        tracked.start()


def test_a_run_another_process_finished_since_it_was_looked_for_is_skipped_as_asked(
    tmp_path, clock, monkeypatch
):
    """Two processes tracking one run: the second looked (not finished), then the first finished
    it before the second's claim; ``if_finished='skip'`` skips it, as had it looked a moment later."""
    from powertrain.tracking import store as db_

    db = tmp_path / "runs.db"
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run:
        run.evaluate(val_accuracy=0.95)
    looked = db_.finished_run
    calls = []

    def too_early(*args):
        calls.append(args)
        return None if len(calls) == 1 else looked(*args)

    monkeypatch.setattr(db_, "finished_run", too_early)
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock), if_finished="skip") as run:
        assert run.skipped and run.evaluate(val_accuracy=0.5)
    with open_store(db) as store:
        assert [r.status for r in store.runs("s")] == [REACHED]


def test_the_loggers_hear_the_end_of_a_run_kept_beside_the_store(tmp_path, clock, quick_lock):
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.tensorboard import run_folder
    from tests.tool_readers import tensorboard_text

    db, logdir = tmp_path / "runs.db", tmp_path / "tb"
    tracked = track(
        "s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock), log_to=[f"tensorboard:{logdir}"]
    )
    with tracked as run:
        clock.advance(1.0)
        other = hold(db)
        run.evaluate(val_accuracy=0.95)
    other.rollback()
    other.close()
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    with open_store(kept) as side:
        [record] = side.runs("s")
    merged = merge_stores([kept], db)  # this process, which holds the run there, still lives
    assert (merged.runs, merged.held) == (0, 1) and "merge again once it has ended" in merged.says()
    folder = run_folder(logdir, RunInfo.of_record(replace(record, id=run.run_id)))
    assert "| powertrain.status | reached |" in tensorboard_text(folder, "powertrain/outcome")


def test_a_run_that_cannot_be_kept_beside_either_is_one_clear_warning_not_an_error(
    tmp_path, clock, quick_lock, monkeypatch, caplog
):
    """The training is over: the script goes on (a recording failure never ends the user's job),
    the outcome in ``run.outcome``, and one warning says the run is not recorded, with its figures."""
    from powertrain.store import pending

    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(pending, "rescue_path", lambda path, kind: tmp_path / "a-file" / "x.db")
    db = tmp_path / "runs.db"
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock))
    with tracked as run:
        clock.advance(1.0)
        other = hold(db)
        run.evaluate(val_accuracy=0.95)
    other.rollback()
    other.close()
    assert run.outcome.status == REACHED
    [said] = [r.getMessage() for r in caplog.records if "kept beside it either" in r.getMessage()]
    assert "is not recorded" in said and "What it measured: reached, 10.0 J (an ESTIMATE)" in said


def test_once_found_locked_the_next_evaluations_try_briefly_and_do_not_stall_training(
    tmp_path, clock, monkeypatch
):
    import time

    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 1.0)
    db = tmp_path / "runs.db"
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run:
        other = hold(db)
        run.evaluate(val_accuracy=0.1)  # the whole wait, once: then said
        began = time.monotonic()
        for accuracy in (0.2, 0.3, 0.4):
            run.evaluate(val_accuracy=accuracy)
        assert time.monotonic() - began < 0.75
        other.rollback()
        other.close()
        run.evaluate(val_accuracy=0.95)
    with open_store(db) as store:
        [record] = store.runs("s")
        assert len(store.eval_points(record.id)) == 5


def test_the_loggers_get_every_point_of_a_run_whose_store_stayed_locked(
    tmp_path, clock, quick_lock
):
    """TensorBoard's curve lacked every point that waited for the lock and was kept beside the
    store with the run's end: the loggers heard a point only once the store took it."""
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.tensorboard import run_folder
    from tests.tool_readers import tensorboard_scalars

    db, logdir = tmp_path / "runs.db", tmp_path / "tb"
    tracked = track(
        "s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock), log_to=[f"tensorboard:{logdir}"]
    )
    with tracked as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.5, step=1)
        other = hold(db)
        for step, accuracy in ((2, 0.6), (3, 0.95)):
            clock.advance(1.0)
            run.evaluate(val_accuracy=accuracy, step=step)
    other.rollback()
    other.close()
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    with open_store(kept) as side:
        [record] = side.runs("s")
    scalars = tensorboard_scalars(
        run_folder(logdir, RunInfo.of_record(replace(record, id=run.run_id)))
    )
    assert scalars["val_accuracy"] == pytest.approx({1: 0.5, 2: 0.6, 3: 0.95})


def test_the_tries_at_a_locked_end_say_so_in_a_line_each_not_the_whole_lock_again(
    tmp_path, clock, quick_lock, caplog
):
    """Each try at the run's end repeated the whole paragraph on locks and what to do about them:
    four near-identical paragraphs for one lock."""
    db = tmp_path / "runs.db"
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock))
    with caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
        clock.advance(1.0)
        other = hold(db)
        run.evaluate(val_accuracy=0.95)
    other.rollback()
    other.close()
    said = [r.getMessage() for r in caplog.records]
    tries = [m for m in said if "trying again" in m]
    assert len(tries) == 2 and "(2 of 3)" in tries[0] and "(3 of 3)" in tries[1]
    assert not [m for m in tries if "postgresql://" in m]
