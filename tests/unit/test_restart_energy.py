"""A run begun again after its attempt failed, by a restart of its torchrun launch
(``--max-restarts``) or a requeue of its SLURM job: the failed attempt's record is replaced, but its
joules were spent on this run and stay in it (``attempts.py``). The run's energy (total, per
component) includes them; its points and energy to target are the new attempt's, and its record
says how much came from which attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
import torch.distributed as dist

from powertrain import track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import FAILED, REACHED
from powertrain.store.memory import MemoryStore
from tests.distributed_helpers import free_port
from tests.fakes.meters import ConstantPowerMeter


@pytest.fixture
def launch(monkeypatch):
    """A torchrun launch of one restart (its agent's store listening), for a script of one process."""
    port = free_port()
    agent = dist.TCPStore("127.0.0.1", port, None, True, timeout=timedelta(seconds=5))
    for name, value in {
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "TORCHELASTIC_MAX_RESTARTS": "1",
        "TORCHELASTIC_RESTART_COUNT": "0",
    }.items():
        monkeypatch.setenv(name, value)
    yield monkeypatch
    del agent


def meters(clock, method=Method.COUNTER):
    """10 W of CPU: every clock.advance(1) costs 10 J."""
    return Detection({Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, method)})


def attempt(store, clock, accuracies, fail=False, method=Method.COUNTER):
    with track("mine", {"lr": 0.1}, 0, 0.9, db=store, detection=meters(clock, method)) as run:
        for accuracy in accuracies:
            clock.advance(1.0)
            if run.evaluate(val_accuracy=accuracy):
                break
        if fail:
            raise ValueError("a rank failed")


def test_a_restarted_launchs_run_keeps_the_failed_attempts_joules(launch, clock):
    store = MemoryStore()
    with pytest.raises(ValueError):
        attempt(store, clock, (0.3, 0.5), fail=True)  # 20 J, then the launch restarts
    [failed] = store.runs("mine")
    assert failed.status == FAILED and failed.outcome.total_energy_j == pytest.approx(20.0)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    attempt(store, clock, (0.5, 0.95))  # 20 J more, to the target
    [run] = store.runs("mine")
    o = run.outcome
    assert run.status == REACHED and o.energy_to_target_j == pytest.approx(20.0)  # this attempt's
    assert o.total_energy_j == pytest.approx(40.0) and o.energy_j == {"cpu": pytest.approx(40.0)}
    [note] = [f for f in o.faults if "earlier attempt" in f]
    assert "20.0 J" in note and f"run {failed.id}:" in note and "energy to target" in note
    assert "before a restart of its torchrun launch began it again" in note  # what did


def test_an_earlier_attempts_estimate_makes_the_runs_sum_an_estimate(launch, clock):
    store = MemoryStore()
    with pytest.raises(ValueError):
        attempt(store, clock, (0.3,), fail=True, method=Method.ESTIMATE)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    attempt(store, clock, (0.95,))  # measured by a counter this time
    [run] = store.runs("mine")
    assert run.estimated and "earlier attempt" in run.provenance["cpu"]["details"]["attempts"]


def test_a_requeued_slurm_jobs_run_keeps_the_joules_of_the_attempt_it_failed(monkeypatch, clock):
    for name, value in {"SLURM_JOB_ID": "4242", "SLURM_CLUSTER_NAME": "c1"}.items():
        monkeypatch.setenv(name, value)
    store = MemoryStore()
    with pytest.raises(ValueError):
        attempt(store, clock, (0.3, 0.5, 0.6), fail=True)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    attempt(store, clock, (0.95,))
    [run] = store.runs("mine")
    assert run.outcome.total_energy_j == pytest.approx(40.0)
    assert run.outcome.energy_to_target_j == pytest.approx(10.0)
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]
    assert "before a requeue of its SLURM job began it again" in note


def test_an_attempt_whose_rank_0_was_killed_counts_as_of_its_last_evaluation(launch, clock):
    """Rank 0 killed outright (SIGKILL, out of memory): its attempt never finished, and what it
    spent after its last evaluation is not known; what it spent up to there is, and stays."""
    store = MemoryStore()
    tracker = track("mine", {"lr": 0.1}, 0, 0.9, db=store, detection=meters(clock))
    killed = tracker.start()
    for accuracy in (0.3, 0.5):
        clock.advance(1.0)
        killed.evaluate(val_accuracy=accuracy)
    killed._release(store=False)  # its process is gone: nothing of it is left here
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    attempt(store, clock, (0.95,))
    [run] = store.runs("mine")
    assert run.status == REACHED and run.outcome.total_energy_j == pytest.approx(30.0)
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]
    assert "at least 20.0 J" in note and "never finished" in note


def test_an_attempt_killed_before_its_first_evaluation_is_named_though_its_joules_are_unknown(
    launch, clock
):
    """Killed before any of its points reached the store (before its first evaluation, or while a
    lock held them in memory): what it spent is not known. The run still says that an earlier
    attempt was replaced and its joules are not counted, rather than pass for the whole of it."""
    store = MemoryStore()
    tracker = track("mine", {"lr": 0.1}, 0, 0.9, db=store, detection=meters(clock))
    killed = tracker.start()
    clock.advance(5.0)  # 50 J spent, never recorded
    killed._release(store=False)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    attempt(store, clock, (0.95,))
    [run] = store.runs("mine")
    assert run.status == REACHED and run.outcome.total_energy_j == pytest.approx(10.0)
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]
    assert "not known" in note and "not counted" in note and "never finished" in note


def fail_kept_beside(db, clock, monkeypatch):
    """A first attempt that fails, its end met by a lock and kept beside the store: 10 J in the
    store's point, 30 J in the kept copy's outcome. Returns the copy."""
    import sqlite3

    from powertrain.store import sqlite_open

    monkeypatch.setattr(sqlite_open, "BUSY_TIMEOUT_S", 0.1)
    with (
        pytest.raises(ValueError),
        track("mine", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run,
    ):
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.3)  # 10 J, in the store
        clock.advance(2.0)  # 20 J more, in the kept copy's outcome only
        other = sqlite3.connect(str(db), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        raise ValueError("a rank failed")
    other.rollback()
    other.close()
    [kept] = db.parent.glob("runs.unrecorded-*.db")
    return kept


def test_a_restart_counts_the_whole_of_an_attempt_kept_beside_a_locked_store_once(
    launch, clock, tmp_path
):
    """The failed attempt's end met a lock and was kept beside the store: the restart counts the
    joules that copy holds (not only those of its last point in the store), and merging the copy
    back afterwards adds nothing (the restart replaced it): every joule once."""
    from powertrain import open_store
    from powertrain.store.merge import merge_stores

    db = tmp_path / "runs.db"
    kept = fail_kept_beside(db, clock, launch)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    attempt(db, clock, (0.95,))
    with open_store(db) as store:
        [run] = store.runs("mine")
    assert run.status == REACHED and run.outcome.total_energy_j == pytest.approx(40.0)
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]
    assert "30.0 J" in note and "at least" not in note and "a rank failed" in note
    assert merge_stores([kept], db).runs == 0
    with open_store(db) as store:
        [again] = store.runs("mine")
    assert again.id == run.id and again.outcome.total_energy_j == pytest.approx(40.0)


def test_an_attempt_kept_beside_merged_while_its_restart_runs_is_not_counted_twice(
    launch, clock, tmp_path
):
    """The kept copy merged back while the restart that replaced it still runs: the copy is an
    attempt the running one began over, so it adds nothing, and the key holds one run whose
    energy counts the failed attempt once."""
    from powertrain import open_store
    from powertrain.store.merge import merge_stores

    db = tmp_path / "runs.db"
    kept = fail_kept_beside(db, clock, launch)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    with track("mine", {"lr": 0.1}, 0, 0.9, db=db, detection=meters(clock)) as run:
        assert merge_stores([kept], db).runs == 0
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.95)
    with open_store(db) as store:
        [record] = store.runs("mine")
    assert record.status == REACHED and record.outcome.total_energy_j == pytest.approx(40.0)


def test_a_second_restart_after_an_attempt_killed_outright_keeps_the_first_attempts_joules(
    launch, clock
):
    """Attempt 1 fails (10 J, in its outcome); attempt 2 counts them, evaluates (10 J) and is killed
    before its end could say so; attempt 3 reaches the target (10 J). The run spent at least 30 J:
    attempt 2's point holds its own joules only, so the 10 J it carried must come with it."""
    store = MemoryStore()
    launch.setenv("TORCHELASTIC_MAX_RESTARTS", "2")
    with pytest.raises(ValueError):
        attempt(store, clock, (0.3,), fail=True)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    killed = track("mine", {"lr": 0.1}, 0, 0.9, db=store, detection=meters(clock)).start()
    clock.advance(1.0)
    killed.evaluate(val_accuracy=0.5)
    killed._release(store=False)
    launch.setenv("TORCHELASTIC_RESTART_COUNT", "2")
    attempt(store, clock, (0.95,))
    [run] = store.runs("mine")
    assert run.status == REACHED and run.outcome.total_energy_j == pytest.approx(30.0)
    assert sum(run.outcome.energy_j.values()) == pytest.approx(run.outcome.total_energy_j)
