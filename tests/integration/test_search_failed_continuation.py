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
