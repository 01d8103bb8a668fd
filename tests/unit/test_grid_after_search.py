"""The grid after a search: the runs a search paused or stopped are the grid's to run again, and what
they had spent is not lost on the way (a take-on keeps the stored record until it finishes)."""

from __future__ import annotations

import psutil
import pytest

from powertrain.records import CENSORED, REACHED, RunOutcome, Verdict
from powertrain.store.claims import Owner
from powertrain.store.memory import MemoryStore
from powertrain.study import runner as runner_module
from powertrain.study.config import parse_study
from powertrain.study.plan import plan
from powertrain.study.runner import run_study

STUDY = {
    "name": "g",
    "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.5, "max_epochs": 1},
    "grid": {"learning_rate": [0.1]},
    "seeds": [0],
    "threads": 1,
    "device": "cpu",
    "meters": {"backends": ["estimate"]},
}


def ended(status, verdict, energy_j: float = 7.0) -> RunOutcome:
    return RunOutcome(status, "why", energy_j, {"cpu": energy_j}, 1.0, 10, verdict=verdict)


def test_the_grid_waits_for_another_process_taking_on_a_stored_pause(monkeypatch):
    # A search paused the grid's one run and stored it; another live process is taking it on
    # (its record begun over the pause, which the store keeps until it finishes). The grid here
    # cannot claim it, and waits for it to finish there: the stored pause is not the grid's end.
    study = parse_study(STUDY)
    store = MemoryStore()
    store.save_study(study.name, study.to_dict())
    (spec,) = plan(study, [])
    store.finish_run(store.begin_run(spec, {}, {}), ended(CENSORED, Verdict.RUNG_PAUSE))
    me = store.owner
    store.owner = Owner(me.host, 1, psutil.Process(1).create_time())  # a live process
    (again,) = plan(study, store.runs())
    other = store.begin_run(again, {}, {})
    store.owner = me
    slept = []

    def sleep(seconds: float) -> None:  # the other process finishes while this one waits
        slept.append(seconds)
        store.finish_run(other, ended(REACHED, Verdict.TARGET))

    monkeypatch.setattr(runner_module.time, "sleep", sleep)
    result = run_study(study, store)
    assert slept and result.ran == 0
    assert [(r.id, r.status) for r in store.runs()] == [(other, REACHED)]


def test_the_grid_driver_takes_each_job_only_as_it_hands_it_out():
    # A continued pause is claimed when its job is made (its record begun, the reporter told it
    # started): so the driver makes each job only when the session has room for it.
    from powertrain.study.executors.base import Ended, Job, drive
    from powertrain.study.plan import RunSpec

    made, at_submit, at_wait = [], [], []

    class OneAtATime:
        resumes = True

        def __init__(self) -> None:
            self.now: list[Job] = []

        def capacity(self) -> int:
            return 1 - len(self.now)

        def in_flight(self) -> int:
            return len(self.now)

        def submit(self, job: Job) -> None:
            at_submit.append(len(made))
            self.now.append(job)

        def wait(self) -> list[Ended]:
            at_wait.append(len(made))  # none made (claimed) while the one handed out runs
            ended, self.now = [Ended(j.spec, None) for j in self.now], []
            return ended

    def jobs():
        for i in range(3):
            made.append(i)
            yield Job(RunSpec("s", f"k{i}", {}, {}, 0))

    assert [e.spec.run_key for e in drive(OneAtATime(), jobs())] == ["k0", "k1", "k2"]
    assert at_submit == [1, 2, 3] and at_wait == [1, 2, 3]


def _paused_with_a_checkpoint(tmp_path):
    """The study's one run, stored paused by a search at its first point (accuracy 0.3), and the
    checkpoint the run's next attempt would continue from (its state saved, its summary not)."""
    from powertrain.study.resume import StudyPlace, run_checkpoint
    from powertrain.testing.store_contract import point

    study = parse_study(STUDY)
    store = MemoryStore()
    store.save_study(study.name, study.to_dict())
    (spec,) = plan(study, [])
    run_id = store.begin_run(spec, {}, {})
    store.add_eval_point(run_id, point(0, acc=0.3))
    store.finish_run(run_id, ended(CENSORED, Verdict.RUNG_PAUSE))
    (again,) = plan(study, store.runs())
    checkpoint = run_checkpoint(again, StudyPlace(study, tmp_path))
    checkpoint.save_state({"model": {}})
    return study, store, run_id, again, checkpoint


def test_the_grid_continues_only_a_checkpoint_that_holds_its_records_own_points(tmp_path):
    # The checkpoint is found by study and run key, and vouched for by a hash of the spec, which
    # leaves the task out (its data set, its model): another store beside this one (its artifacts
    # folder shared) may have left one there with as many points. The grid continues a pause
    # only from the checkpoint holding the very points of its record: this one is run afresh.
    from powertrain.study.execute import StoreSink
    from powertrain.study.over_search import OverSearch
    from powertrain.testing.store_contract import point
    from powertrain.train.checkpoint import Spent

    study, store, run_id, again, checkpoint = _paused_with_a_checkpoint(tmp_path)

    def over(points) -> OverSearch:
        checkpoint.save_spent(Spent({"cpu": 7.0}, 1.0, points))
        return OverSearch(store, StoreSink(store), study, tmp_path)

    assert over([point(0, acc=0.9)]).resume(again) is None  # another run's: afresh
    assert [r.id for r in store.runs()] == [run_id]
    assert over([point(0, acc=0.3)]).resume(again) is not None  # its own: continued


def test_a_search_takes_on_a_stored_pause_only_from_a_checkpoint_of_its_records_points(tmp_path):
    # The same for a later search taking the pause on (``DeferringSink._reclaim``).
    from powertrain.search.sink import DeferringSink
    from powertrain.search.space import Trial
    from powertrain.study.execute import StoreSink
    from powertrain.study.resume import StudyPlace
    from powertrain.testing.store_contract import point
    from powertrain.train.checkpoint import Spent

    study, store, run_id, again, checkpoint = _paused_with_a_checkpoint(tmp_path)
    (stored,) = store.runs()
    place = StudyPlace(study, tmp_path)

    def start(points) -> int | None:
        checkpoint.save_spent(Spent({"cpu": 7.0}, 1.0, points))
        trial = Trial("s", 0, points=store.eval_points(run_id))
        return DeferringSink(StoreSink(store), place).start(again, trial, [], stored=stored)

    assert start([point(0, acc=0.9)]) is None  # another run's: afresh
    assert [r.id for r in store.runs()] == [run_id]
    assert start([point(0, acc=0.3)]) is not None  # its own: continued


def test_the_grids_cost_counts_a_failed_run_it_ran_again_as_started(tmp_path):
    # ``--strategy grid --retry-failed``: the failed run is run again, so it is one the grid
    # started (its energy spent now), not one reused from the store.
    from powertrain.records import FAILED
    from powertrain.search.run import search_study

    study = parse_study(STUDY)
    store = MemoryStore()
    store.save_study(study.name, study.to_dict())
    (spec,) = plan(study, [])
    store.finish_run(store.begin_run(spec, {}, {}), ended(FAILED, Verdict.FAILED, 5.0))
    search = search_study(study, store, strategy="grid", retry_failed=True, artifacts_dir=tmp_path)
    (run,) = store.runs()
    assert run.status != FAILED and search.result.ran == 1
    assert search.cost.runs_started == 1 and search.cost.reused_runs == 0
    assert search.cost.spent_j == pytest.approx(run.outcome.total_energy_j)


def test_the_grid_continues_the_pause_as_it_stands_when_it_comes_to_it(tmp_path):
    # The grid read the search's pauses when it began; by the time it comes to this one (after
    # waiting for another process that held it) a later search took it on and paused it again,
    # further: the grid continues that pause from its checkpoint, and says what it carried.
    from powertrain.study.execute import StoreSink
    from powertrain.study.over_search import OverSearch
    from powertrain.study.resume import StudyPlace, run_checkpoint
    from powertrain.testing.store_contract import point
    from powertrain.train.checkpoint import Spent

    study = parse_study(STUDY)
    store = MemoryStore()
    store.save_study(study.name, study.to_dict())
    (spec,) = plan(study, [])
    first = store.begin_run(spec, {}, {})
    store.add_eval_point(first, point(0))
    store.finish_run(first, ended(CENSORED, Verdict.RUNG_PAUSE, 7.0))
    (again,) = plan(study, store.runs())
    over = OverSearch(store, StoreSink(store), study, tmp_path)
    later = store.begin_run(again, {}, {})  # the later search's take-on, paused further
    for i in (0, 1):
        store.add_eval_point(later, point(i))
    store.finish_run(later, ended(CENSORED, Verdict.RUNG_PAUSE, 14.0))
    checkpoint = run_checkpoint(again, StudyPlace(study, tmp_path))
    checkpoint.save_state({"model": {}})
    checkpoint.save_spent(Spent({"cpu": 14.0}, 2.0, [point(0), point(1)]))
    run_id = over.resume(again)
    assert run_id is not None and store.eval_points(run_id) == [point(0), point(1)]
    store.finish_run(run_id, ended(REACHED, Verdict.TARGET, 20.0))
    assert over.say({again.run_key: ended(REACHED, Verdict.TARGET, 20.0)})[0] == 14.0
