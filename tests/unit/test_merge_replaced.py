"""A merge says how many earlier attempts its copies replaced: a replaced attempt's record (and its
joules) goes from the output, which a count of runs "added" alone does not show."""

from __future__ import annotations

import pytest

from powertrain import open_store, track
from powertrain.store.merge import merge_stores
from tests.fakes.meters import cpu_estimate


def failed_run(db, clock) -> None:
    meters = cpu_estimate(clock)
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=db, detection=meters)
    with pytest.raises(RuntimeError), tracked as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.5)
        raise RuntimeError("the node went away")


def test_two_stores_that_ran_one_run_apart_merge_to_one_attempt_and_say_the_other_went(
    tmp_path, clock
):
    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    failed_run(a, clock)
    clock.advance(5.0)
    failed_run(b, clock)  # begun later, on another machine's store: it replaces a's in the output
    done = merge_stores([a, b], out)
    with open_store(out) as store:
        [kept] = store.runs("s")
    assert done.runs == 2 and done.replaced == 1
    assert "1 earlier attempts of their runs replaced" in done.says()
    assert "the earlier's joules go" in done.says()
    with open_store(b) as store:
        [from_b] = store.runs("s")
    assert kept.started_at == from_b.started_at


def test_a_kept_copy_completing_its_unfinished_attempt_is_said_so_not_as_an_attempt_replaced(
    tmp_path,
):
    # merging back a run kept beside a locked store (the command its warning gives) said "1 earlier
    # attempts of their runs replaced ... the earlier's joules go": nothing earlier went, the copy
    # finished the very attempt the store held unfinished
    import dataclasses

    from powertrain.records import RUNNING
    from powertrain.store.sqlite import SqliteStore
    from powertrain.testing.store_fixtures import begin, outcome, point

    kept, out = tmp_path / "runs.unrecorded-h-1.db", tmp_path / "runs.db"
    with SqliteStore(kept) as side:
        side.save_study("st", {"name": "st"})
        run_id = begin(side)
        side.add_eval_point(run_id, point(0))
        side.finish_run(run_id, outcome())
        [finished] = side.runs("st")
    with SqliteStore(
        out
    ) as store:  # the attempt as its process left it: begun, no process holds it
        store.save_study("st", {"name": "st"})
        unfinished = dataclasses.replace(finished, status=RUNNING, outcome=None, finished_at=None)
        store.copy_run(unfinished, [])
    done = merge_stores([kept], out)
    assert (done.runs, done.replaced, done.skipped) == (1, 0, 0)
    assert "replaced" not in done.says() and "joules go" not in done.says()
    assert "1 of them the end of an attempt the output held unfinished" in done.says()
    with SqliteStore(out) as store:
        [merged] = store.runs("st")
        assert merged.status == finished.status and len(store.eval_points(merged.id)) == 1
