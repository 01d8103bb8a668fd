"""The end of a run refused by its store for another reason than a lock: a full disk (SQLite's
"database or disk is full"), a store file removed under the run. The training was done: the run
is kept beside the store with the command that merges it back, as for a lock, instead of the
user's script ending on a traceback after its training with the run's end recorded nowhere; where
it cannot be kept beside either, one line says so, with what the run measured."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from powertrain import open_store, track
from powertrain.meters.detect import detect_meters
from powertrain.records import CENSORED, REACHED, RUNNING
from powertrain.store.sqlite import SqliteStore
from powertrain.study.config import parse_study
from powertrain.study.runner import run_study
from tests.fakes.meters import cpu_estimate
from tests.unit.test_run_locked_store import STUDY

FULL = "database or disk is full"


class FullAtTheEnd(SqliteStore):
    """A store whose disk fills once the run's points are in: its timeline and end are refused."""

    def save_timeline(self, run_id, timeline) -> None:
        raise sqlite3.OperationalError(FULL)

    def finish_run(self, run_id, outcome) -> None:
        raise sqlite3.OperationalError(FULL)


class FullOnce(SqliteStore):
    """A store whose disk is full for one evaluation point (index 1), then has room again."""

    refused = False

    def add_eval_point(self, run_id, point) -> None:
        if point.index == 1 and not self.refused:
            self.refused = True
            raise sqlite3.OperationalError(FULL)
        super().add_eval_point(run_id, point)


def test_a_tracked_runs_end_on_a_full_disk_is_kept_beside_the_store(tmp_path, clock, caplog):
    with FullAtTheEnd(tmp_path / "runs.db") as store:
        tracked = track("s", {"lr": 0.1}, 0, 0.9, db=store, detection=cpu_estimate(clock))
        with caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
            for accuracy in (0.5, 0.95):
                clock.advance(1.0)
                run.evaluate(val_accuracy=accuracy)
        assert [r.status for r in store.runs("s")] == [RUNNING]
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert f"powertrain merge {kept}" in caplog.text and FULL in caplog.text
    assert "once the store takes writes again" in caplog.text.lower()  # not only a lock's end
    with open_store(kept) as side:
        [record] = side.runs("s")
        assert record.status == REACHED and len(side.eval_points(record.id)) == 2


def test_an_end_kept_nowhere_is_one_line_with_what_the_run_measured(
    tmp_path, clock, monkeypatch, caplog
):
    """Not raised into the script (the training is over; it may save its model after the block)."""
    from powertrain.store import pending

    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(pending, "rescue_path", lambda path, kind: tmp_path / "a-file" / "x.db")
    with FullAtTheEnd(tmp_path / "runs.db") as store:
        tracked = track("s", {"lr": 0.1}, 0, 0.9, db=store, detection=cpu_estimate(clock))
        with tracked as run:
            clock.advance(2.0)
            run.evaluate(val_accuracy=0.95)
    [said] = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert FULL in said and "20.0 J" in said and "reached" in said and "\n" not in said


def test_powertrain_run_on_a_disk_full_for_one_point_records_every_point(tmp_path):
    """The point a full disk refused ended the training loop as a model error would: FAILED."""
    with FullOnce(tmp_path / "runs.db") as store:
        result = run_study(
            parse_study(STUDY), store, detection=detect_meters(["estimate"]),
            artifacts_dir=tmp_path / "artifacts",
        )  # fmt: skip
        [outcome] = result.outcomes
        [record] = store.runs("locked")
        indices = [p.index for p in store.eval_points(record.id)]
    assert outcome.status == CENSORED and record.status == CENSORED and outcome.error is None
    assert indices == list(range(len(indices))) and len(indices) > 2


def test_a_run_kept_whole_beside_its_removed_store_does_not_say_it_lacks_points(tmp_path, clock):
    """Its record, kept with every point, said that the points the store refused were not
    recorded and its curve incomplete; merged back, the report marked a whole run as lacking."""
    db = tmp_path / "runs.db"
    with track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=cpu_estimate(clock)) as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.3)
        db.unlink()  # removed under the run: every later write is refused
        for accuracy in (0.5, 0.95):
            clock.advance(1.0)
            run.evaluate(val_accuracy=accuracy)
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    with open_store(kept) as side:
        [record] = side.runs("s")
        assert record.status == REACHED and len(side.eval_points(record.id)) == 3
    assert not [f for f in record.outcome.faults if "not recorded" in f or "incomplete" in f]
    [note] = [f for f in record.outcome.faults if "refused by the store" in f]
    assert "2 evaluation points" in note and "every point" in note
    assert run.outcome.faults == record.outcome.faults


def test_a_study_whose_store_is_removed_mid_run_keeps_no_failed_copy_of_the_run(tmp_path):
    """The run the removal cut short ended FAILED, and that end was kept beside the store as a
    finished run (merged back: FAILED, for a run that trained fine) while the study went on as if
    nothing was wrong. It stays unfinished in the rescued copy, to run again, and the study ends
    with the removal's line."""
    from powertrain.store.sqlite_guard import StoreRemoved

    db = tmp_path / "runs.db"

    def remove(point):
        if point.index == 0:  # once the store has it: the next write finds the file gone
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)

    removed = pytest.raises(StoreRemoved, match="removed while this process wrote it")
    with removed, open_store(db) as store:
        run_study(
            parse_study(STUDY), store, detection=detect_meters(["estimate"]),
            artifacts_dir=tmp_path / "artifacts", stops=lambda spec: [remove],
        )  # fmt: skip
    assert list(tmp_path.glob("runs.unrecorded-*")) == []
    [rescued] = tmp_path.glob("runs.rescued-*.db")
    with open_store(rescued) as copy:
        assert [r.status for r in copy.runs("locked")] == [RUNNING]


def test_powertrain_run_on_a_server_away_at_the_end_leaves_the_run_to_run_again(
    tmp_path, monkeypatch
):
    """As docs/clusters.md has it: a study's run whose PostgreSQL server stays away through its
    end fails with the server's one line and stays unfinished, run again by the next `powertrain
    run` (only a track() block, which cannot be run again, is kept in the working folder)."""
    from powertrain.store.memory import MemoryStore
    from powertrain.store.pg_session import StoreUnreachable

    class AwayAtTheEnd(MemoryStore):
        def finish_run(self, run_id, outcome) -> None:
            raise StoreUnreachable("the server stayed away; the run stays unfinished there")

    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreUnreachable), AwayAtTheEnd() as store:
        run_study(
            parse_study(STUDY), store, detection=detect_meters(["estimate"]),
            artifacts_dir=tmp_path / "artifacts",
        )  # fmt: skip
    assert list(tmp_path.glob("*.unrecorded-*")) == []
