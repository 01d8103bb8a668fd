"""A tracked run killed (SIGKILL) while its points waited for a store another process held locked:
they are on disk beside the store, not only in the killed process's memory, where ``powertrain
merge`` and the next track of the run take them back, each once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from powertrain import open_store, track
from powertrain.records import REACHED, RUNNING
from powertrain.store import sqlite_open
from powertrain.store.merge import merge_stores
from tests.fakes.meters import cpu_estimate
from tests.unit.test_track_locked import hold

#: A user's script: one evaluation the store takes, then two that wait for the lock, then killed.
KILLED_WHILE_WAITING = """
import sys, time
from pathlib import Path
from powertrain import track
from powertrain.store import sqlite_open
from tests.conftest import FakeClock
from tests.fakes.meters import cpu_estimate

sqlite_open.BUSY_TIMEOUT_S = 0.2
clock, db, here = FakeClock(), sys.argv[1], Path(sys.argv[2])
with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock), device="cpu") as run:
    clock.advance(1.0)
    run.evaluate(val_accuracy=0.3)
    (here / "evaluated").touch()
    while not (here / "locked").exists():
        time.sleep(0.02)
    for accuracy in (0.5, 0.6):
        clock.advance(1.0)
        run.evaluate(val_accuracy=accuracy)
    (here / "waiting").touch()
    time.sleep(120)
"""


def wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(process.stderr.read())
        assert time.monotonic() < deadline, f"no {path.name} in time"
        time.sleep(0.02)


def killed_while_waiting(tmp_path: Path, env: dict | None = None) -> Path:
    """Runs the script, holds the store locked from its second evaluation, kills it with SIGKILL
    while two points wait; the store's path."""
    root = Path(__file__).resolve().parents[2]
    paths = os.pathsep.join([str(root / "src"), str(root)])
    env = {**os.environ, **(env or {}), "PYTHONPATH": paths}
    db = tmp_path / "runs.db"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_WAITING, str(db), str(tmp_path)],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(tmp_path / "evaluated", process)
        other = hold(db)
        (tmp_path / "locked").touch()
        wait_for(tmp_path / "waiting", process)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    other.rollback()
    other.close()
    with open_store(db) as store:
        [record] = store.runs("s")
        assert record.status == RUNNING and len(store.eval_points(record.id)) == 1
    return db


def test_points_waiting_for_the_lock_survive_a_kill_and_merge_back_once(tmp_path):
    db = killed_while_waiting(tmp_path)
    [side] = tmp_path.glob("runs.unrecorded-*.db")
    with open_store(side) as kept:
        [copy] = kept.runs("s")
        assert [p.val_accuracy for p in kept.eval_points(copy.id)] == [0.3, 0.5, 0.6]
    assert merge_stores([side], db).runs == 1
    assert merge_stores([side], db).runs == 0  # merged twice: once
    with open_store(db) as store:
        [record] = store.runs("s")
        assert record.status == RUNNING and record.started_at == copy.started_at
        assert [p.val_accuracy for p in store.eval_points(record.id)] == [0.3, 0.5, 0.6]


def test_a_requeued_job_counts_the_joules_of_points_that_waited_when_it_was_killed(
    tmp_path, monkeypatch, clock
):
    """The requeued attempt counts the killed one's joules as of its last point: the last that
    waited for the lock (30 J at 10 W), not the last the store took (10 J)."""
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_CLUSTER_NAME": "c1"}
    db = killed_while_waiting(tmp_path, slurm)
    for name, value in {**slurm, "SLURM_RESTART_COUNT": "1"}.items():
        monkeypatch.setenv(name, value)
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock)) as run:
        clock.advance(1.0)
        assert run.evaluate(val_accuracy=0.95)
    with open_store(db) as store:
        [record] = store.runs("s")
    assert record.status == REACHED
    assert record.outcome.total_energy_j == pytest.approx(40.0)
    [note] = [f for f in record.outcome.faults if "earlier attempt" in f]
    assert "at least 30.0 J" in note
    assert list(tmp_path.glob("runs.unrecorded-*.db")) == []  # taken back: nothing to merge


def test_the_copy_of_waiting_points_goes_once_the_store_has_them(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.2)
    db = tmp_path / "runs.db"
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock)) as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.3)
        other = hold(db)
        run.evaluate(val_accuracy=0.5)
        [side] = tmp_path.glob("runs.unrecorded-*.db")
        other.rollback()
        other.close()
        run.evaluate(val_accuracy=0.6)
        assert not side.exists()
        run.evaluate(val_accuracy=0.95)
    with open_store(db) as store:
        [record] = store.runs("s")
        assert [p.val_accuracy for p in store.eval_points(record.id)] == [0.3, 0.5, 0.6, 0.95]
    assert list(tmp_path.glob("runs.unrecorded-*")) == []


#: A user's script whose store another program holds locked from its last evaluation to its exit;
#: the user presses Ctrl-C while its end waits for the lock.
INTERRUPTED_AT_THE_END = """
import sqlite3, sys
from pathlib import Path
from powertrain import track
from powertrain.store import sqlite_open
from tests.conftest import FakeClock
from tests.fakes.meters import cpu_estimate

sqlite_open.BUSY_TIMEOUT_S = 2.0
clock, db, here = FakeClock(), sys.argv[1], Path(sys.argv[2])
with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock), device="cpu") as run:
    clock.advance(1.0)
    held = sqlite3.connect(db, isolation_level=None)
    held.execute("BEGIN IMMEDIATE")  # held to the exit
    assert run.evaluate(val_accuracy=0.95)
    (here / "ending").touch()
"""


def test_ctrl_c_while_the_end_waits_for_the_lock_keeps_the_run_beside_the_store(tmp_path):
    """Stopping the wait (three tries at the lock's wait each) lost the run's end: the training
    was done, its outcome known, and nothing of it but the points was kept."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_AT_THE_END, str(tmp_path / "runs.db"), str(tmp_path)],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(tmp_path / "ending", process)
        time.sleep(0.5)  # in the first of the end's tries
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr  # the user's Ctrl-C goes up
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert f"powertrain merge {kept}" in stderr and "interrupted" in stderr
    with open_store(kept) as side:
        [record] = side.runs("s")
        assert record.status == REACHED and len(side.eval_points(record.id)) == 1


def test_waiting_points_that_cannot_be_kept_beside_say_they_are_in_memory_only(
    tmp_path, clock, monkeypatch, caplog
):
    """The disk beside the store full (or read-only): the warning named a copy that did not exist,
    and a half-made file was left beside the store."""
    import logging

    from powertrain.store import pending

    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.2)
    side = tmp_path / "runs.unrecorded-here.db"

    def full(path, kind):
        side.write_bytes(b"")  # made, then the disk is full
        return side

    monkeypatch.setattr(pending, "rescue_path", full)
    from powertrain.store import sqlite as sqlite_store

    real_copy = sqlite_store.SqliteStore.copy_run

    def refused(self, record, points, *rest):
        if Path(self.path) == side:
            raise sqlite3.OperationalError("database or disk is full")
        return real_copy(self, record, points, *rest)

    monkeypatch.setattr(sqlite_store.SqliteStore, "copy_run", refused)
    db = tmp_path / "runs.db"
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock))
    with caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
        clock.advance(1.0)
        other = hold(db)
        run.evaluate(val_accuracy=0.3)
        assert not side.exists()
        other.rollback()
        other.close()
        run.evaluate(val_accuracy=0.95)
    [said] = [r.getMessage() for r in caplog.records if "stayed locked" in r.getMessage()]
    assert "in memory only" in said and "disk is full" in said and str(side) not in said
    with open_store(db) as store:
        [record] = store.runs("s")
        assert record.status == REACHED and len(store.eval_points(record.id)) == 2


def test_ctrl_c_while_points_wait_for_the_lock_says_where_they_are(
    tmp_path, clock, monkeypatch, caplog
):
    """Interrupted mid-training, the run is left unfinished (as ever); the points that waited for
    the lock are in the copy beside the store, and the interrupt now says so, with the merge."""
    import logging

    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.2)
    db = tmp_path / "runs.db"
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock))
    interrupted = pytest.raises(KeyboardInterrupt)
    with interrupted, caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.3)
        other = hold(db)
        for accuracy in (0.5, 0.6):
            clock.advance(1.0)
            run.evaluate(val_accuracy=accuracy)
        raise KeyboardInterrupt
    other.rollback()
    other.close()
    [side] = tmp_path.glob("runs.unrecorded-*.db")
    [said] = [r.getMessage() for r in caplog.records if "left unfinished" in r.getMessage()]
    assert "2 points" in said and f"powertrain merge {side} -o {db}" in said
    with open_store(side) as kept:
        [copy] = kept.runs("s")
        assert copy.status == RUNNING and len(kept.eval_points(copy.id)) == 3
