"""The grid after a search: the runs a search paused or stopped are the grid's to run again, and what
they had spent is not lost on the way (a take-on keeps the stored record until it finishes)."""

from __future__ import annotations

import psutil

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
