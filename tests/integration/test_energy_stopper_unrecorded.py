"""Ray Tune's EnergyStopper and a store that refused a stop: the stop is written as soon as the store
answers again, whether or not another trial is stopped after it, and at the latest when the tuning
process exits; what is still refused then is said, never dropped silently."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from powertrain.records import CENSORED, FAILED, RUNNING, EvalPoint, Verdict
from powertrain.store.sqlite import SqliteStore
from powertrain.tracking.store import begin_run


class Locked(SqliteStore):
    """A real SQLite store that another process holds locked for its next ``refusals`` writes."""

    refusals = 0

    def finish_run(self, run_id, outcome):
        if self.refusals:
            self.refusals -= 1
            raise sqlite3.OperationalError("database is locked")
        super().finish_run(run_id, outcome)


@pytest.fixture
def sweep(tmp_path):
    """A store with one run under way (30 J, past the best: 10 J) and its Tune report."""
    store = Locked(tmp_path / "runs.db")
    store.save_study("tune", {"name": "tune"})
    run_id = begin_run(store, "tune", "a", {"t": "a"}, {}, 0, {}, {}, False)
    store.add_eval_point(run_id, EvalPoint(0, 1, 1.0, 0, None, 0.2, 1.0, {"cpu": 30.0}))
    result = {
        "powertrain_run_id": run_id,
        "powertrain_run_key": "a",
        "powertrain_study": "tune",
        "energy_j": 30.0,
        "val_accuracy": 0.2,
    }
    yield store, result
    store.close()


def stopper_over(store, monkeypatch, exits: list):
    """An EnergyStopper over ``store`` (its exit hooks into ``exits``) that has seen a fast trial
    reach the target: the stopper and that trial's report."""
    from powertrain.integrations import ray_tune

    monkeypatch.setattr("atexit.register", lambda f, *a: exits.append(lambda: f(*a)))
    stopper = ray_tune.EnergyStopper(db=store, beta=1.0)
    fast = {"energy_j": 10.0, "val_accuracy": 0.95, "energy_to_target_j": 10.0}
    assert not stopper("fast", fast)
    return stopper, fast


def stopped_while_locked(sweep, monkeypatch, refusals: int):
    """A stopper that stops the sweep's run "a" (the last stop of the sweep) while the store refuses
    its next ``refusals`` writes: the stopper, the fast trial's report, the exit hooks it registered."""
    store, result = sweep
    exits: list = []
    stopper, fast = stopper_over(store, monkeypatch, exits)
    store.refusals = refusals
    assert stopper("a", result)
    return stopper, fast, exits


def test_the_last_stop_is_recorded_at_a_later_report_once_the_store_answers(sweep, monkeypatch):
    store, _ = sweep
    stopper, fast, _ = stopped_while_locked(sweep, monkeypatch, 1)
    assert [r.status for r in store.runs("tune")] == [RUNNING]
    stopper.retry_s = 0.0  # (waits between retries on plain reports otherwise)
    assert not stopper("fast", {**fast, "energy_j": 11.0})  # no stop follows: a report does
    assert not stopper.unrecorded
    [run] = store.runs("tune")
    assert run.status == CENSORED and run.outcome.total_energy_j == 30.0


def test_a_stop_refused_to_the_end_of_the_sweep_is_recorded_at_exit(sweep, monkeypatch):
    store, _ = sweep
    stopper, _, exits = stopped_while_locked(sweep, monkeypatch, 1)
    [at_exit] = exits  # registered once there is something to record
    at_exit()  # the tuning process exits: the store answers now
    assert not stopper.unrecorded and store.runs("tune")[0].status == CENSORED


def test_a_stop_still_refused_at_exit_is_said_with_its_run(sweep, monkeypatch, caplog):
    store, result = sweep
    _, _, exits = stopped_while_locked(sweep, monkeypatch, 100)
    with caplog.at_level(logging.WARNING, logger="powertrain.integrations.ray_tune"):
        for at_exit in exits:
            at_exit()
    [said] = [r.getMessage() for r in caplog.records if "still refused" in r.getMessage()]
    assert f"run {result['powertrain_run_id']} of study 'tune'" in said
    assert store.runs("tune")[0].status == RUNNING


def test_a_refused_stop_is_recorded_at_exit_though_the_stopper_was_dropped(sweep, monkeypatch):
    import gc

    store, _ = sweep
    stopper, _, exits = stopped_while_locked(sweep, monkeypatch, 1)
    del stopper  # RunConfig(stop=EnergyStopper(...)) inline: gone with the tuner after fit()
    gc.collect()
    for at_exit in exits:
        at_exit()
    assert store.runs("tune")[0].status == CENSORED


def test_a_refused_stop_leaves_a_run_that_was_finished_meanwhile_as_it_was(sweep, monkeypatch):
    # The store refused the stop; the trial's own process then finished its run (its track()
    # ending as Tune stopped it, or the try the store took before failing to say so): the retry
    # leaves it as it is (a store finishes only a running run) and is done, so no later stop
    # waits behind it.
    from powertrain.testing.store_contract import outcome

    store, result = sweep
    stopper, _, _ = stopped_while_locked(sweep, monkeypatch, 1)
    own = outcome(status=FAILED, verdict=Verdict.FAILED)
    SqliteStore.finish_run(store, result["powertrain_run_id"], own)
    stopper.retry_s = 0.0
    assert not stopper("fast", {"energy_j": 11.0, "val_accuracy": 0.95})  # the retry
    assert not stopper.unrecorded
    assert store.runs("tune")[0].outcome == own


def test_a_stop_whose_report_names_no_run_blocks_no_later_stop(sweep, monkeypatch, caplog):
    store, result = sweep
    stopper, _ = stopper_over(store, monkeypatch, [])
    with caplog.at_level(logging.WARNING, logger="powertrain.integrations.ray_tune"):
        assert stopper("odd", {**result, "powertrain_run_id": "not-a-run"})
        assert stopper("a", result)
    assert not stopper.unrecorded and store.runs("tune")[0].status == CENSORED
    said = [r.getMessage() for r in caplog.records]
    assert any("'not-a-run', not a number" in m for m in said)
    assert not any("results store" in m for m in said)  # the store is not blamed
