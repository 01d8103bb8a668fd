"""The Ray executor on a local Ray instance (``ray.init(num_cpus=2)``): a tiny study finishes, each run
claimed by this process before its task is submitted and written here, with the same statuses as the
local executor gives for the same seeds."""

from __future__ import annotations

import pytest

from powertrain.meters.detect import detect_meters
from powertrain.records import Verdict
from powertrain.store.memory import MemoryStore
from powertrain.store.sqlite import SqliteStore
from powertrain.study.config import parse_study
from powertrain.study.executors.local import LocalExecutor
from powertrain.study.executors.ray import RayExecutor
from powertrain.study.runner import run_study

TINY = {
    "name": "ray-tiny",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [16]},
        "target_accuracy": 0.85,
        "eval_every_steps": 20,
        "max_epochs": 2,
    },
    "grid": {"learning_rate": [0.001, 0.2]},  # one censored, one reached
    "seeds": [0],
    "threads": 1,
    "device": "cpu",
    "meters": {"backends": ["estimate"]},
}


@pytest.fixture(scope="module")
def ray_instance():
    import ray  # part of `make test` (powertrain[ray]): this test never skips

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def statuses(store) -> dict[str, str]:
    return {r.run_key: r.status.value for r in store.runs("ray-tiny")}


def test_a_small_study_on_a_local_ray_gives_the_local_executors_statuses(ray_instance, tmp_path):
    study = parse_study(TINY)
    with SqliteStore(tmp_path / "ray.db") as on_ray:
        result = run_study(study, on_ray, executor=RayExecutor(cpus_per_run=1))
        assert result.ran == 2
        runs = on_ray.runs("ray-tiny")
        assert all(r.hardware.get("cpu_model") for r in runs)  # the node's, not the placeholder
        assert all(on_ray.eval_points(r.id) for r in runs)
        ray_statuses = statuses(on_ray)
        again = run_study(study, on_ray, executor=RayExecutor(cpus_per_run=1))
        assert again.ran == 0 and again.skipped == 2  # resuming works as locally
    with MemoryStore() as here:
        executor = LocalExecutor(detection=detect_meters(["estimate"]), artifacts_dir=tmp_path)
        run_study(study, here, executor=executor)
        assert statuses(here) == ray_statuses
    assert set(ray_statuses.values()) == {"reached", "censored"}


def test_a_live_search_on_ray_asks_this_process_when_to_stop(ray_instance, tmp_path):
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from tests.integration.test_live_search import study

    with open_store(tmp_path / "grid.db") as grid:
        run_study(study(), grid)
        grid_steps = {r.run_key: r.outcome.steps for r in grid.runs()}
    with open_store(tmp_path / "r.db") as store:
        live = search_study(study(), store, strategy="bound", executor=RayExecutor(cpus_per_run=1))
        runs = store.runs("tiny-search")
    assert live.outcome.confirmed and live.cost.pick == "learning_rate=0.3 batch_size=16"
    assert all(r.outcome is not None and r.hardware.get("cpu_model") for r in runs)
    stopped = [r for r in runs if r.outcome.verdict is Verdict.SEARCH_BOUND]
    assert stopped and all(r.status.value == "censored" for r in stopped)
    # Decided here, the stop ended the task's loop before its own end (the grid's run's step).
    assert all(r.outcome.steps < grid_steps[r.run_key] for r in stopped)
    assert live.cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))


def test_live_halving_on_a_local_ray_continues_promoted_runs_in_their_records(
    ray_instance, tmp_path, monkeypatch
):
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from powertrain.study.executors.ray_session import RaySession
    from tests.integration.test_live_search import (
        assert_continued_in_one_record,
        assert_pauses_keep_their_checkpoints,
        study,
    )

    continued, submit = [], RaySession.submit

    def spy(self, job):
        assert self.resumes  # every node is this machine: the checkpoints are on its disk
        continued.append(job.spec.run_key) if job.resume_id is not None else None
        return submit(self, job)

    monkeypatch.setattr(RaySession, "submit", spy)
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=RayExecutor(cpus_per_run=1))
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert continued  # promoted runs went on where they paused, each in its one record
    assert_continued_in_one_record(live, runs, points, continued)
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def test_live_halving_on_a_cluster_of_several_machines_reruns_promoted_runs(
    ray_instance, tmp_path, monkeypatch
):
    """Where a task may run on another machine, its checkpoint is out of this process's reach: a
    promoted run is re-run from scratch (counted as superseded) and no task leaves one behind."""
    from powertrain.search import sink
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from powertrain.study.executors import ray_session
    from tests.integration.test_live_search import study

    monkeypatch.setattr(ray_session, "on_this_machine_only", lambda ray: False)
    monkeypatch.setattr(sink, "discard", lambda spec, env: None)  # only the tasks remove them
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=RayExecutor(cpus_per_run=1))
        runs = store.runs("tiny-search")
        stored_j = sum(r.outcome.total_energy_j for r in runs)
    assert live.cost.superseded_j > 0
    assert len({r.run_key for r in runs}) == len(runs) == live.cost.runs_started
    assert live.cost.spent_j == pytest.approx(stored_j + live.cost.superseded_j)
    assert not list(tmp_path.rglob("checkpoints/*"))


def test_optuna_on_ray_keeps_as_many_trials_under_way_as_the_cluster_has_room_for(
    ray_instance, tmp_path, monkeypatch
):
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from tests.integration.test_live_search import study
    from tests.integration.test_live_search_workers import (
        assert_optuna_ran_each_once,
        spy_on_optuna,
    )

    under_way, told = spy_on_optuna(monkeypatch)
    s = study(search={"strategy": "optuna", "trials": 3, "beta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=RayExecutor(cpus_per_run=1))
        runs = store.runs("tiny-search")
    assert max(under_way) == 2  # the local Ray's 2 CPUs: two trials at once
    assert_optuna_ran_each_once(live, runs, told, 3)
    assert all(r.hardware.get("cpu_model") for r in runs)  # trained by Ray tasks, written here


def test_the_grids_predicted_stop_on_ray_is_asked_of_this_process(ray_instance, tmp_path):
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from tests.integration.test_live_search import study

    eager = {"strategy": "grid", "predict_stop": {"threshold": 0.999, "min_evals": 1}}
    s = study(search=eager, grid={"learning_rate": [0.02], "batch_size": [16]})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store, executor=RayExecutor(cpus_per_run=1))
        runs = store.runs("tiny-search")
    assert len(runs) == 2 and all(r.hardware.get("cpu_model") for r in runs)
    assert all(r.outcome.verdict is Verdict.PREDICTED_MISS for r in runs)
    assert all(r.status.value == "censored" and r.outcome.steps == 10 for r in runs)
    assert live.cost.runs_stopped == 2


def test_a_pricing_window_reaches_a_ray_tasks_loop_and_the_cheapest_goes_on_in_its_record(
    ray_instance, tmp_path, monkeypatch
):
    from powertrain.search.cost_axes import axes_of
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from tests.integration.test_live_search import assert_pauses_keep_their_checkpoints
    from tests.integration.test_live_window import EVERY, STUDY, searches_with

    strategy = searches_with(monkeypatch, "batch_size")  # a stand-in cost axis, as on workers
    cpu = {**STUDY, "grid": {"learning_rate": [0.3], "batch_size": [16, 32]}, "seeds": [0]}
    cpu = {**cpu, "meters": {"backends": ["estimate"]}}
    with open_store(tmp_path / "r.db") as store:
        executor = RayExecutor(cpus_per_run=1)
        live = search_study(parse_study(cpu), store, strategy="zeus", executor=executor)
        runs = {r.setup["batch_size"]: r for r in store.runs("tiny-window")}
        points = {b: store.eval_points(r.id) for b, r in runs.items()}
    (pick,) = strategy[0].picks.values()
    cheapest = axes_of(pick)["batch_size"]
    (other,) = set(runs) - {cheapest}
    assert runs[other].outcome.verdict is Verdict.RUNG_PAUSE and points[other] == []
    assert runs[other].outcome.steps == EVERY // 10  # paused in its window, in the task's loop
    assert points[cheapest][0].step == EVERY and live.cost.superseded_j == 0  # continued
    assert_pauses_keep_their_checkpoints(tmp_path, runs.values())
