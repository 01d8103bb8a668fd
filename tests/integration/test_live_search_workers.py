"""Live search on the workers executor: two runs at once, each in a worker process, their stops decided
in the coordinator (tiny digits/MLP study of test_live_search, one thread per worker)."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest

from powertrain.records import CENSORED, Verdict
from powertrain.search.run import search_study
from powertrain.store import open_store
from powertrain.study.execute import StoreSink
from powertrain.study.executors.workers import WorkerSession, WorkersExecutor
from tests.cli_helpers import last_json
from tests.integration.test_live_search import (  # noqa: F401
    assert_continued_in_one_record,
    assert_pauses_keep_their_checkpoints,
    best_setup,
    grid_store,
    study,
)
from tests.integration.test_parallel_cli import (
    SLOW,
    assert_each_run_once,
    kill_the_coordinator_and_run_again,
    rows,
    start,
    wait_for_two_running_runs,
    wait_until,
    workers_of,
    write,
)


def two_workers() -> WorkersExecutor:
    return WorkersExecutor(2, cpu_count=2)


def test_bound_on_two_workers_picks_the_grids_best_and_its_stops_reach_the_workers(
    grid_store,  # noqa: F811
    tmp_path,
):
    grid_steps = {r.run_key: r.outcome.steps for r in grid_store.runs("tiny-search")}
    with open_store(tmp_path / "r.db") as store:
        live = search_study(study(), store, strategy="bound", executor=two_workers())
        runs = store.runs("tiny-search")
    assert best_setup(grid_store, "tiny-search") == 0.3
    assert live.outcome.confirmed and live.cost.pick == "learning_rate=0.3 batch_size=16"
    assert all(r.outcome is not None for r in runs)  # nothing left running
    stopped = [r for r in runs if r.outcome.verdict is Verdict.SEARCH_BOUND]
    assert stopped and all(r.status == CENSORED for r in stopped)
    # Decided in the coordinator, the stop ended the worker's loop at that evaluation: before the
    # step at which the same (setup, seed) reached its target or its limits in the grid.
    assert all(r.outcome.steps < grid_steps[r.run_key] for r in stopped)
    assert live.cost.runs_stopped == len(stopped) and live.cost.runs_started == len(runs)
    assert live.cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))


def test_halving_on_two_workers_trains_each_run_once_per_attempt(tmp_path, monkeypatch):
    submitted, begun, continued = Counter(), Counter(), Counter()
    submit, begin = WorkerSession.submit, StoreSink.begin

    def spy_submit(self, job):
        under_way = [w.job.spec.run_key for w in self.workers if w.job is not None]
        assert job.spec.run_key not in under_way + [j.spec.run_key for j in self.todo]
        submitted[job.spec.run_key] += 1
        continued[job.spec.run_key] += job.resume_id is not None
        return submit(self, job)

    def spy_begin(self, spec, hardware, provenance):
        begun[spec.run_key] += 1
        return begin(self, spec, hardware, provenance)

    monkeypatch.setattr(WorkerSession, "submit", spy_submit)
    monkeypatch.setattr(StoreSink, "begin", spy_begin)
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=two_workers())
        runs = store.runs("tiny-search")
    assert live.outcome.pick is not None
    # Every attempt handed out was trained once: begun, afresh or (promoted) as the continuation
    # of its stored pause, from its checkpoint.
    assert begun == submitted and sum(continued.values()) > 0
    assert sorted(Counter(r.run_key for r in runs).values()) == [1] * len(runs)
    assert all(r.outcome is not None for r in runs)  # no run left running
    trials = live.outcome.history.trials
    assert len(runs) == len(trials) == len(submitted)
    assert any(n > 1 for n in submitted.values())  # promoted to a later rung: handed out again
    assert live.cost.spent_j == pytest.approx(live.outcome.total_j)


def test_halving_on_two_workers_continues_promoted_runs_from_their_checkpoints(
    tmp_path, monkeypatch
):
    continued = []
    submit = WorkerSession.submit

    def spy_submit(self, job):
        if job.resume_id is not None:
            continued.append(job.spec.run_key)
        return submit(self, job)

    monkeypatch.setattr(WorkerSession, "submit", spy_submit)
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=two_workers())
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert continued  # rung 0 pauses every setup at its first evaluation; promoted ones go on
    assert_continued_in_one_record(live, runs, points, continued)
    assert len({(repr(sorted(r.setup.items())), r.seed) for r in runs}) == len(runs)
    assert all(r.outcome is not None for r in runs)  # nothing left running
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def test_a_killed_worker_fails_its_run_and_the_search_goes_on(tmp_path):
    db, path = tmp_path / "r.db", write(tmp_path, SLOW)
    proc = start(str(path), "--db", str(db), "--strategy", "bound", "--workers", "2", "--json")
    wait_for_two_running_runs(db, proc)
    workers_of(proc.pid)[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert last_json(out)["search"]["strategy"] == "bound"
    failed = [r for r in assert_each_run_once(db) if r[1] == "failed"]
    assert len(failed) == 1  # the killed worker's run, with why; a new worker took its place
    assert "worker process running it died" in json.loads(failed[0][2])["error"]


@pytest.mark.parametrize("strategy", ["bound", "optuna"])  # optuna: two trials asked at once
def test_a_killed_coordinator_leaves_the_search_to_the_next_run(tmp_path, strategy):
    db, running, resumed = kill_the_coordinator_and_run_again(
        tmp_path, strategy, wait_for_two_running_runs
    )
    # The runs under way are left unfinished (their claims died with the coordinator), not ended.
    assert running >= 2
    assert resumed.returncode == 0, resumed.stderr
    assert f"search {strategy} on par" in resumed.stderr
    count = 4 if strategy == "bound" else None  # optuna: the setups its trials drew
    statuses = {status for _, status, _ in assert_each_run_once(db, count)}
    assert statuses <= {"reached", "censored"}


def wait_for_a_continued_run(db, proc) -> None:
    """Until a paused run's checkpoint is on disk and a promoted run is under way past its pause."""
    query = (
        "SELECT COUNT(*) FROM runs r WHERE r.status = 'running'"
        " AND (SELECT COUNT(*) FROM eval_points e WHERE e.run_id = r.id) >= 2"
    )
    on_disk = lambda: bool(list(db.parent.rglob("checkpoints/*.pt")))  # noqa: E731
    wait_until(db, proc, lambda: rows(db, query)[0][0] >= 1 and on_disk(), "no run went on")


def test_a_killed_coordinator_mid_halving_leaves_nothing_duplicated_or_on_disk(tmp_path):
    db, running, again = kill_the_coordinator_and_run_again(
        tmp_path, "halving", wait_for_a_continued_run
    )
    assert running >= 1  # the continued run, left unfinished with its claim gone
    assert again.returncode == 0, again.stderr
    assert_each_run_once(db, count=None)  # one record per (setup, seed), its points unbroken
    with open_store(db) as store:
        assert_pauses_keep_their_checkpoints(tmp_path, store.runs())


def test_shard_is_refused_with_a_search_and_says_why(tmp_path):
    from powertrain.errors import PowertrainError
    from powertrain.search.run import run_with_search

    with open_store(tmp_path / "r.db") as store:
        with pytest.raises(PowertrainError, match="--shard splits a study's runs"):
            run_with_search(study(), store, strategy="bound", shard=(0, 2))
        assert store.runs() == []


def spy_on_optuna(monkeypatch) -> tuple[list[int], list[int]]:
    """(runs under way just after each start, the number of each Optuna trial told)."""
    from powertrain.search.live import LivePool
    from powertrain.search.optuna_strategy import OptunaStrategy

    under_way, told = [], []
    start, tell = LivePool.start, OptunaStrategy.tell

    def spy_start(self, s, trial, stop):
        start(self, s, trial, stop)
        under_way.append(self.in_flight())

    def spy_tell(self, asked, trials):
        told.append(asked.number)
        return tell(self, asked, trials)

    monkeypatch.setattr(LivePool, "start", spy_start)
    monkeypatch.setattr(OptunaStrategy, "tell", spy_tell)
    return under_way, told


def assert_optuna_ran_each_once(live, runs, told, trials: int) -> None:
    assert sorted(told) == list(range(trials))  # every trial told once, whatever order they ended
    assert len({r.run_key for r in runs}) == len(runs) and all(r.outcome for r in runs)
    assert live.cost.runs_started == len(runs)
    assert live.cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))


def test_optuna_on_two_workers_asks_while_a_trial_runs_and_tells_each_as_it_ends(
    tmp_path, monkeypatch
):
    under_way, told = spy_on_optuna(monkeypatch)
    s = study(search={"strategy": "optuna", "trials": 4, "beta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=two_workers())
        runs = store.runs("tiny-search")
    assert max(under_way) == 2  # a second trial asked before the first was told
    assert_optuna_ran_each_once(live, runs, told, 4)


def test_a_predicted_stop_on_workers_is_decided_in_the_coordinator(tmp_path):
    eager = {"strategy": "grid", "predict_stop": {"threshold": 0.999, "min_evals": 1}}
    s = study(search=eager, grid={"learning_rate": [0.02], "batch_size": [16]})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=two_workers())
        runs = store.runs("tiny-search")
    assert len(runs) == 2 and all(r.status == CENSORED for r in runs)
    assert all(r.outcome.verdict is Verdict.PREDICTED_MISS for r in runs)
    assert live.cost.runs_stopped == 2
