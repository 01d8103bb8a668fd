"""A store that fails to record an evaluation point (a locked or full database, a lost server) does
not end the user's training: the run goes on, the failure is said once, the points are written
again at the end where the store takes them, and the run's record says what it lacks."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from powertrain import track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import REACHED
from powertrain.store.memory import MemoryStore
from tests.fakes.meters import ConstantPowerMeter


class FlakyStore(MemoryStore):
    """Refuses the evaluation points whose index is in ``failing`` (each once, or for ever)."""

    def __init__(self, failing: set[int], for_ever: bool = False) -> None:
        super().__init__()
        self.failing, self.for_ever = set(failing), for_ever

    def add_eval_point(self, run_id, point) -> None:
        if point.index in self.failing:
            if not self.for_ever:
                self.failing.discard(point.index)
            raise sqlite3.OperationalError("database is locked")
        super().add_eval_point(run_id, point)


@pytest.fixture
def meters(clock):
    return Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )


def train(store, meters, clock) -> list[bool]:
    decisions = []
    with track("mine", {"lr": 0.1}, 0, 0.9, db=store, detection=meters, device="cpu") as run:
        for accuracy in (0.5, 0.6, 0.7, 0.95):
            clock.advance(1.0)
            decisions.append(run.evaluate(val_accuracy=accuracy))
            if decisions[-1]:
                break
    return decisions


def test_a_point_the_store_refuses_does_not_end_training_and_is_said_once(meters, clock, caplog):
    store = FlakyStore({1, 2}, for_ever=True)
    with caplog.at_level(logging.WARNING, logger="powertrain"):
        decisions = train(store, meters, clock)
    assert decisions == [False, False, False, True]  # trained on to the target
    said = [r.getMessage() for r in caplog.records if "could not record" in r.getMessage()]
    assert len(said) == 1 and "incomplete" in said[0] and "database is locked" in said[0]
    [record] = store.runs("mine")
    assert record.status == REACHED
    assert record.outcome.energy_to_target_j == pytest.approx(40.0)  # from every point
    assert [p.index for p in store.eval_points(record.id)] == [0, 3]
    [note] = [f for f in record.outcome.faults if "not recorded" in f]
    assert "2 of 4" in note and "incomplete" in note


def test_points_refused_once_are_written_when_the_run_ends(meters, clock, caplog):
    store = FlakyStore({1})
    with caplog.at_level(logging.WARNING, logger="powertrain"):
        train(store, meters, clock)
    [record] = store.runs("mine")
    assert [p.index for p in store.eval_points(record.id)] == [0, 1, 2, 3]
    assert not [f for f in record.outcome.faults if "not recorded" in f]
    assert any("written when the run ended" in f for f in record.outcome.faults)


def test_a_spawned_rank_writes_a_refused_point_again_at_its_end_and_says_what_is_lost(
    tmp_path, monkeypatch, caplog
):
    """A spawned rank 0 (Lightning's ddp_spawn) records points into its parent's run: one the store
    refused is written again when the spawned rank hands the run back; one refused for ever is said."""
    import pickle

    from powertrain.store import open_store
    from powertrain.store.sqlite import SqliteStore

    add = SqliteStore.add_eval_point
    refusing = {"for ever": False}

    def flaky(self, run_id, point):
        if point.index == 0 and (refusing["for ever"] or not getattr(self, "_refused", False)):
            self._refused = True
            raise sqlite3.OperationalError("database is locked")
        return add(self, run_id, point)

    monkeypatch.setattr(SqliteStore, "add_eval_point", flaky)
    for study, for_ever in (("again", False), ("lost", True)):
        refusing["for ever"] = for_ever
        with track(study, {"lr": 0.1}, 0, 0.9, db=tmp_path / "s.db", device="cpu") as run:
            spawned = pickle.loads(pickle.dumps(run))
            with caplog.at_level(logging.WARNING, logger="powertrain"):
                assert not spawned.evaluate(0.5, step=1)
                spawned.evaluate(0.95, step=2)
                spawned.close()
        with open_store(tmp_path / "s.db") as store:
            [record] = store.runs(study)
            kept = [p.index for p in store.eval_points(record.id)]
        assert kept == ([1] if for_ever else [0, 1]), study
    assert any("1 of 2 evaluation points not recorded" in r.getMessage() for r in caplog.records)


class LockedThenFullStore(MemoryStore):
    """Locked by another process for point 1 (once: it waits, and goes in with the next); full
    for point 2, for ever."""

    def __init__(self) -> None:
        super().__init__()
        self.locked_once = False

    def add_eval_point(self, run_id, point) -> None:
        from powertrain.store.sqlite_guard import StoreLocked

        if point.index == 1 and not self.locked_once:
            self.locked_once = True
            raise StoreLocked("the results store is locked by another process")
        if point.index == 2:
            raise OSError(28, "No space left on device")
        super().add_eval_point(run_id, point)


def test_a_lock_and_a_full_disk_in_one_run_keep_each_point_once(meters, clock, caplog):
    """A lock's point waits in the locked store's queue; a point refused otherwise is kept apart,
    tried again at the end; neither is written twice, and the one never taken is named."""
    store = LockedThenFullStore()
    with caplog.at_level(logging.WARNING, logger="powertrain"):
        decisions = train(store, meters, clock)
    assert decisions == [False, False, False, True]
    [record] = store.runs("mine")
    assert [p.index for p in store.eval_points(record.id)] == [0, 1, 3]
    [note] = [f for f in record.outcome.faults if "not recorded" in f]
    assert "1 of 4" in note and "evaluations 3" in note
