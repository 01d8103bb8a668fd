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
