"""A paused run that fails as it is continued (its model cannot be set up, its worker or Ray task
dies: an outcome of 0 J) replaces its stored pause when it finishes: the joules the pause had
spent must stay in the store and in the search's cost, not go with the pause."""

from __future__ import annotations

from powertrain.records import FAILED, RunOutcome, Verdict
from powertrain.search.run import search_study
from powertrain.store import open_store
from powertrain.study import execute
from tests.integration.test_live_search import study


def fails_when_continued(monkeypatch) -> dict[str, float]:
    """The built-in loop fails with 0 J (as a dead worker's or lost Ray task's run does) whenever
    it continues a pause; returns each pause's joules, by run key, as the loop paused it."""
    paused, builtin = {}, execute._run_builtin

    def run(spec, env, monitor, on_eval, checkpoint):
        if checkpoint is not None and checkpoint.earlier is not None:
            return RunOutcome(FAILED, "the model could not be set up", 0.0, {}, 0.0, 0)
        outcome = builtin(spec, env, monitor, on_eval, checkpoint)
        if outcome.verdict is Verdict.RUNG_PAUSE:
            paused[spec.run_key] = outcome.total_energy_j
        return outcome

    monkeypatch.setattr(execute, "_run_builtin", run)
    return paused


def test_a_pause_that_fails_as_it_is_continued_keeps_its_joules_in_the_store(tmp_path, monkeypatch):
    paused = fails_when_continued(monkeypatch)
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store)
        runs = {r.run_key: r for r in store.runs("tiny-search")}
    failed = [key for key, r in runs.items() if r.status == FAILED]
    assert failed and set(failed) <= set(paused)  # promoted, then failed as they went on
    for key in failed:  # what the pause had spent is kept, and said to be
        assert runs[key].outcome.total_energy_j >= paused[key] > 0
    stored_j = sum(r.outcome.total_energy_j for r in runs.values())
    assert live.cost.spent_j == stored_j + live.cost.superseded_j
    assert stored_j >= sum(paused.values())


def test_on_ray_a_promoted_pause_whose_task_fails_on_its_node_keeps_its_joules(
    tmp_path, monkeypatch
):
    """The node cannot open the run it continues (a Failed record, no begin): the coordinator
    finishes the pause's record FAILED with 0 J; the pause's joules stay in it."""
    import ray

    from powertrain.study.executors.ray import RayExecutor, run_on_node

    def failing_when_resumed(
        study, spec, artifacts_dir, threads, desk=None, resume=False, keep=True
    ):
        from powertrain.study.executors.messages import ErrorRecord, Failed

        if resume:
            return [Failed(ErrorRecord.of(RuntimeError("no GPU left on this node")))]
        return run_on_node(study, spec, artifacts_dir, threads, desk, resume, keep)

    def task(self):
        if self._task is None:
            remote = self.connect().remote(failing_when_resumed)
            self._task = remote.options(num_cpus=self.cpus_per_run, max_retries=0)
        return self._task

    monkeypatch.setattr(RayExecutor, "task", task)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        s = study(search={"strategy": "halving", "eta": 2})
        with open_store(tmp_path / "r.db") as store:
            live = search_study(s, store, executor=RayExecutor(cpus_per_run=1))
            runs = store.runs("tiny-search")
    finally:
        ray.shutdown()
    failed = [r for r in runs if r.status == FAILED]
    assert failed  # the promoted pauses, each in the record of its pause
    assert all(r.outcome.total_energy_j > 0 and r.outcome.steps > 0 for r in failed)
    assert all("the run failed on its Ray node" in r.outcome.stop_reason for r in failed)
    stored_j = sum(r.outcome.total_energy_j for r in runs)
    assert live.cost.spent_j == stored_j + live.cost.superseded_j
