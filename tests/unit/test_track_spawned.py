"""A tracked run handed to a spawned process (Lightning's ddp_spawn pickles the callbacks): unpickled,
it records the points into the run its parent holds, and the parent writes the outcome once the
spawned ranks are done. Here in one process (pickle round trip); the 2-process Lightning job is in
tests/integration/test_track_distributed.py."""

from __future__ import annotations

import dataclasses
import pickle
import threading

import pytest

import powertrain
from powertrain.records import REACHED
from powertrain.store import open_store
from powertrain.store.memory import MemoryStore


def test_a_pickled_run_records_into_its_parents_run_and_the_parent_writes_the_outcome(tmp_path):
    db = tmp_path / "s.db"
    with powertrain.track("spawn", setup={"lr": 0.1}, target=0.7, db=db, device="cpu") as run:
        spawned = pickle.loads(pickle.dumps(run))  # what a spawned process gets
        assert spawned.spawned and spawned.run_id == run.run_id and run.handed_over
        assert not spawned.evaluate(0.5, step=1)
        assert spawned.evaluate(0.8, step=2)  # the target: the spawned rank 0 decides
        spawned.close()  # its fit tears down: the verdict is left for the parent
        assert spawned.outcome is None
    o = run.outcome
    assert o.status == REACHED and "every target reached" in o.stop_reason
    assert [p.step for p in run.points] == [1, 2] and o.energy_to_target_j == pytest.approx(
        run.points[-1].total_energy_j
    )
    assert o.total_energy_j >= run.points[-1].total_energy_j  # the parent's reading: all of it
    [node] = o.nodes
    assert "spawned ranks' processes" in node["read_by"]["cpu"]
    with open_store(db) as store:
        [record] = store.runs()  # one run, recorded once
        assert record.status == REACHED and len(store.eval_points(record.id)) == 2
        assert store.rank_messages(f"spawned/{record.id}", 0) == {}  # the hand-back is tidied


def test_spawned_ranks_that_never_hand_back_fail_the_run(tmp_path):
    with powertrain.track("spawn", db=tmp_path / "s.db", device="cpu") as run:
        pickle.dumps(run)  # handed over, but the spawned processes died before their end
    assert run.outcome.status == "failed"
    assert "ended without handing the run back" in run.outcome.error


def test_a_run_in_a_store_object_cannot_go_to_spawned_processes():
    refused = pytest.raises(powertrain.PowertrainError, match="pass db as a path or a URL")
    with powertrain.track("spawn", db=MemoryStore(), device="cpu") as run, refused:
        pickle.dumps(run)


def test_a_second_hand_over_in_one_block_numbers_its_points_on_from_the_first(tmp_path):
    db = tmp_path / "s.db"
    with powertrain.track("spawn", setup={"lr": 0.1}, target=0.9, db=db, device="cpu") as run:
        for fit, steps in enumerate(([1, 2], [3, 4])):  # trainer.fit twice under ddp_spawn
            spawned = pickle.loads(pickle.dumps(run))
            assert len(spawned.points) == 2 * fit  # what the first fit recorded
            for step in steps:
                spawned.evaluate(0.5, step=step)
            spawned.close()
    with open_store(db) as store:
        [record] = store.runs()
        assert [(p.index, p.step) for p in store.eval_points(record.id)] == [
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 4),
        ]
    assert run.outcome.status != "failed", run.outcome.error


def test_meters_of_the_users_choice_are_refused_rather_than_mixed_with_the_spawned_ranks():
    from powertrain.meters.detect import detect_meters

    detection = detect_meters(cpu_tdp_w=1000).require()
    refused = pytest.raises(powertrain.PowertrainError, match="leave out detection=")
    with (
        powertrain.track("spawn", db=":memory:", device="cpu", detection=detection) as run,
        refused,
    ):
        pickle.dumps(run)
    detection.close()


def test_a_handler_that_cannot_be_pickled_is_named_in_one_clear_error(tmp_path):
    refused = pytest.raises(powertrain.PowertrainError, match="cannot go to spawned processes")
    handlers = [lambda point: None]  # a local function: pickle cannot name it
    tracked = powertrain.track("spawn", db=tmp_path / "s.db", device="cpu", handlers=handlers)
    with tracked as run, refused:
        pickle.dumps(run)


def test_the_parents_loggers_hear_the_points_its_spawned_ranks_recorded(tmp_path):
    """The loggers (``log_to``) stay in the parent (a logger's connection does not pickle): it tells
    them the spawned ranks' points when it takes the run back, before the outcome."""
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.tensorboard import run_folder
    from tests.tool_readers import tensorboard_scalars

    db, logdir = tmp_path / "s.db", tmp_path / "tb"
    with powertrain.track(
        "spawn", target=0.7, db=db, device="cpu", log_to=f"tensorboard:{logdir}"
    ) as run:
        run.evaluate(0.3, step=1)  # the parent's own point, before the hand-over
        spawned = pickle.loads(pickle.dumps(run))
        spawned.evaluate(0.5, step=2)
        spawned.evaluate(0.8, step=3)
        spawned.close()
    with open_store(db) as store:
        [record] = store.runs()
    scalars = tensorboard_scalars(run_folder(logdir, RunInfo.of_record(record)))
    assert scalars["val_accuracy"] == pytest.approx({1: 0.3, 2: 0.5, 3: 0.8})  # each once
    assert scalars["energy_to_target_j"] == pytest.approx({3: run.outcome.energy_to_target_j})


def test_a_hand_over_of_an_attempt_that_ended_records_nothing_and_says_why(tmp_path):
    """A pickled run revived after its run finished (or after the store lost it) wrote a point into
    the finished run, or failed on the store's constraint with an IntegrityError traceback."""
    db = tmp_path / "s.db"
    with powertrain.track("spawn", setup={"lr": 0.1}, target=0.9, db=db, device="cpu") as run:
        ticket = pickle.dumps(run)
        first = pickle.loads(ticket)
        first.evaluate(0.5, step=1)
        first.close()
    stale = pickle.loads(ticket)  # the same hand-over, after the run ended
    refused = pytest.raises(powertrain.PowertrainError, match="is censored, not running")
    for _ in range(2):  # refused at every evaluate, not only the first
        with refused:
            stale.evaluate(0.6, step=2)
    with refused:
        stale.close()
    with open_store(db) as store:
        [record] = store.runs()
        assert [p.step for p in store.eval_points(record.id)] == [1]  # nothing added
        assert store.rank_messages(f"spawned/{record.id}", 0) == {}  # nothing left behind
    db.unlink()  # a store that no longer holds the run
    revived = pickle.loads(ticket)
    with pytest.raises(powertrain.PowertrainError, match="is not in the store"):
        revived.evaluate(0.6, step=2)
    # it records nothing, ever: its meters' sampler is let go at once (a process may go on)
    assert not [t for t in threading.enumerate() if t.name == "powertrain-sampler"]
    with pytest.raises(powertrain.PowertrainError, match="is not in the store"):
        revived.close()


def test_a_run_pickled_by_another_version_is_one_clear_error(tmp_path):
    from powertrain.tracking import spawned

    with powertrain.track("spawn", db=tmp_path / "s.db", device="cpu") as run:
        ticket = spawned.ticket(run)
        old = dataclasses.replace(ticket, options={**ticket.options, "rank_wait": 5})
        with pytest.raises(powertrain.PowertrainError, match="pickled by another powertrain"):
            spawned.revive(type(run), type(run.tracker), old)
        pickle.loads(pickle.dumps(run)).close()


FULL = {
    "status": "reached",
    "stop_reason": "every target reached",
    "verdict": "target",
    "reached": None,
    "end_reason": None,
    "test": None,
    "error": None,
    "ranks": [0],
}


@pytest.mark.parametrize(
    "left",
    [
        {"status": "reached"},  # an older version's, missing fields
        {**FULL, "verdict": "nonsense"},
        {**FULL, "status": "diverged"},  # a verdict its status contradicts
        "not json",
    ],
    ids=["missing fields", "unknown verdict", "contradiction", "not json"],
)
def test_a_verdict_the_parent_cannot_read_fails_the_run_saying_so(tmp_path, left):
    """It raised a KeyError or ValueError in the parent (RunOutcome refuses a contradiction), so the
    outcome was never written and the run stayed unfinished."""
    from powertrain.tracking import spawned

    db = tmp_path / "s.db"
    with powertrain.track("spawn", db=db, device="cpu") as run:
        pickle.dumps(run)  # handed over
        channel = spawned.CHANNEL.format(run_id=run.run_id)
        if isinstance(left, dict):
            run.store.post_rank_message(channel, 0, 0, left)
        else:
            run.store.db.execute(
                "INSERT INTO rank_messages VALUES (?, 0, 0, ?, 0)", (channel, left)
            )
            run.store.db.commit()
    assert run.outcome.status == "failed"
    assert "verdict is not what this powertrain leaves" in run.outcome.error or (
        "not a JSON object" in run.outcome.error
    )
    with open_store(db) as store:
        assert [r.status for r in store.runs()] == ["failed"]


def test_a_spawned_rank_whose_run_was_begun_afresh_under_it_says_so(tmp_path):
    """Its parent was stopped and the script run again while the spawned rank went on: its next
    point met the store's FOREIGN KEY constraint, an IntegrityError traceback (nothing doubled)."""
    db = tmp_path / "s.db"
    run = powertrain.track("spawn", setup={"lr": 0.1}, target=0.9, db=db, device="cpu").start()
    try:
        spawned = pickle.loads(pickle.dumps(run))
        spawned.evaluate(0.5, step=1)
        run.store.db.execute("DELETE FROM runs WHERE id = ?", (run.run_id,))  # the new attempt's
        run.store.db.commit()
        with pytest.raises(powertrain.PowertrainError, match="is not in the store"):
            spawned.evaluate(0.6, step=2)
    finally:  # the parent was stopped: it writes nothing
        run._release()
