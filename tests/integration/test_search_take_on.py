"""Runs a search paused or stopped and stored, taken on later (by another search, or the grid): what
they had spent is never lost on the way, and an interrupted take-on resumes without duplicates."""

from __future__ import annotations

import logging

import pytest

from powertrain.records import Verdict
from powertrain.search.run import search_study
from powertrain.store import open_store
from powertrain.study.runner import run_study
from tests.integration.test_live_search import _curve, study


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory):
    """The tiny study's grid, every run to its own end: what each run is, never paused."""
    with open_store(tmp_path_factory.mktemp("grid") / "r.db") as store:
        run_study(study(), store)
        yield store


@pytest.mark.parametrize("how", ["interrupted", "killed"])
def test_a_take_on_of_a_stored_pause_that_is_interrupted_loses_nothing_and_resumes(
    how, grid_store, tmp_path, monkeypatch
):
    # The second halving takes on the pause the first stored and is interrupted (Ctrl-C: the
    # search's cleanup runs; killed: it does not) as it continues it: the stored pause, with what
    # it had spent, and its checkpoint are still there, and a third search continues it (one
    # record, every point once) with the earlier energy carried, not lost.
    from powertrain.search.sink import DeferringSink
    from powertrain.study import execute as execute_module

    with open_store(tmp_path / "r.db") as store:
        search_study(study(search={"strategy": "halving", "eta": 2}), store)
        (paused,) = [r for r in store.runs() if r.outcome.verdict is Verdict.RUNG_PAUSE]
        paused_points = store.eval_points(paused.id)
        real = execute_module.execute_run

        def killed_continuing_it(spec, *args, **kwargs):
            if spec.run_key == paused.run_key and kwargs.get("resume"):
                raise KeyboardInterrupt
            return real(spec, *args, **kwargs)

        monkeypatch.setattr(execute_module, "execute_run", killed_continuing_it)
        if how == "killed":
            monkeypatch.setattr(DeferringSink, "flush", lambda self: None)
        again = study(search={"strategy": "halving", "eta": 2, "finalists": 3})
        with pytest.raises(KeyboardInterrupt):
            search_study(again, store)
        assert_pause_kept(store, paused, paused_points, tmp_path)
        monkeypatch.undo()
        third = search_study(again, store)
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert all(r.outcome is not None for r in runs)
    assert len({r.run_key for r in runs}) == len(runs)  # no duplicates
    (run,) = [r for r in runs if r.run_key == paused.run_key]
    grid = {r.run_key: r for r in grid_store.runs("tiny-search")}
    assert len(points[run.run_key]) > len(paused_points)  # continued from its checkpoint
    whole = [_curve(p) for p in grid_store.eval_points(grid[run.run_key].id)]
    assert [_curve(p) for p in points[run.run_key]] == whole[: len(points[run.run_key])]
    assert run.outcome.total_energy_j > paused.outcome.total_energy_j  # what it spent then, too
    assert third.cost.carried_j >= paused.outcome.total_energy_j


class _Heard(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def test_the_grid_after_a_search_continues_its_pauses_and_says_what_it_runs_again(
    grid_store, tmp_path, monkeypatch, request
):
    # halving leaves a setup paused (its checkpoint kept) and others stopped; the grid afterwards
    # continues the pause from its checkpoint (its record goes on from the points and energy it
    # had: carried, not lost) and runs the stopped ones again, saying in one line how many and
    # how much energy their records held.
    # heard on the module's own logger: what other tests left on the way to the root (the
    # command line's handler, a level) changes nothing here
    said = _Heard()
    logger = logging.getLogger("powertrain.study.over_search")
    monkeypatch.setattr(logger, "handlers", [said])
    monkeypatch.setattr(logger, "propagate", False)
    level = logger.level
    logger.setLevel(logging.INFO)  # not the attribute: a logger caches what its level lets through
    request.addfinalizer(lambda: logger.setLevel(level))
    searched = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        search_study(searched, store)
        before = {r.run_key: r for r in store.runs() if r.outcome.verdict.search_only}
        paused = {k for k, r in before.items() if r.outcome.verdict is Verdict.RUNG_PAUSE}
        paused_points = {k: store.eval_points(before[k].id) for k in paused}
        result = run_study(searched, store)
        runs = {r.run_key: r for r in store.runs("tiny-search")}
        points = {k: store.eval_points(r.id) for k, r in runs.items()}
    assert paused and len(runs) == len(grid_store.runs("tiny-search"))
    grid = {r.run_key: r for r in grid_store.runs("tiny-search")}
    for key in before:  # each the grid's run, as if it had never been paused or stopped
        whole = [_curve(p) for p in grid_store.eval_points(grid[key].id)]
        assert [_curve(p) for p in points[key]] == whole
        assert runs[key].outcome.verdict is grid[key].outcome.verdict
    paused_j = sum(before[k].outcome.total_energy_j for k in paused)
    assert result.carried_j == pytest.approx(paused_j)  # spent before: not this sweep's
    assert sum(result.carried_energy_j.values()) == pytest.approx(paused_j)
    for key in paused:  # continued: the pause's own points, energy and all, then on
        assert points[key][: len(paused_points[key])] == paused_points[key]
        assert runs[key].outcome.total_energy_j > before[key].outcome.total_energy_j
    again = [r for k, r in before.items() if k not in paused]
    lines = [m for m in said.messages if "from scratch" in m]
    assert any(f"continued {_runs(len(paused))} a search" in m for m in said.messages)
    if again:
        (line,) = lines
        energy_j = sum(r.outcome.total_energy_j for r in again)
        assert f"ran {_runs(len(again))} a search" in line and f"{energy_j:.3g} J" in line
    else:
        assert not lines


def test_the_grids_cost_after_a_search_counts_what_it_ran_and_leaves_the_pauses_energy_out(
    tmp_path,
):
    # ``--strategy grid`` after a halving: the runs it ran again over the search's records are
    # runs it started (not reused), and what the pauses it continued had spent in the search is
    # carried (in their records, not in what the grid spent), as a later search counts it.
    searched = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        search_study(searched, store)
        done = [r for r in store.runs() if not r.outcome.verdict.search_only]
        paused = [r for r in store.runs() if r.outcome.verdict is Verdict.RUNG_PAUSE]
        paused_j = sum(r.outcome.total_energy_j for r in paused)
        cost = search_study(searched, store, strategy="grid").cost
        runs = store.runs("tiny-search")
    assert paused_j > 0 and cost.reused_runs == len(done)
    assert cost.runs_started == len(runs) - len(done)
    assert cost.carried_j == pytest.approx(paused_j)
    assert cost.spent_j == pytest.approx(cost.stored_j - paused_j)


def assert_pause_kept(store, paused, paused_points, tmp_path) -> None:
    """The stored pause is there as it was (one finished record, its points), its checkpoint too."""
    kept = [r for r in store.runs() if r.run_key == paused.run_key and r.outcome is not None]
    assert kept == [paused] and store.eval_points(paused.id) == paused_points
    assert paused.run_key in {p.stem for p in tmp_path.rglob("checkpoints/*.pt")}


def killed_then_again(tmp_path, monkeypatch, kill) -> tuple:
    """A halving leaves one pause; the grid is killed where ``kill(monkeypatch, paused)`` says,
    which must leave the pause stored, as it was, with its checkpoint; the grid then runs again to
    its end. Returns the pause, its points, the run it became and that run's points."""
    searched = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        search_study(searched, store)
        (paused,) = [r for r in store.runs() if r.outcome.verdict is Verdict.RUNG_PAUSE]
        paused_points = store.eval_points(paused.id)
        kill(monkeypatch, paused)
        with pytest.raises(KeyboardInterrupt):
            run_study(searched, store)
        assert_pause_kept(store, paused, paused_points, tmp_path)
        monkeypatch.undo()
        run_study(searched, store)
        runs = store.runs("tiny-search")
        (run,) = [r for r in runs if r.run_key == paused.run_key]
        points = store.eval_points(run.id)
    assert all(r.outcome is not None for r in runs) and len({r.run_key for r in runs}) == len(runs)
    assert points[: len(paused_points)] == paused_points and len(points) > len(paused_points)
    return paused, paused_points, run, points


def test_a_grid_interrupted_as_it_continues_a_searchs_pause_leaves_it_and_goes_on_later(
    tmp_path, monkeypatch
):
    from powertrain.study import execute as execute_module

    real = execute_module.execute_run

    def interrupted_continuing_it(spec, *args, **kwargs):
        if kwargs.get("resume"):
            raise KeyboardInterrupt
        return real(spec, *args, **kwargs)

    def kill(monkeypatch, paused):
        monkeypatch.setattr(execute_module, "execute_run", interrupted_continuing_it)

    killed_then_again(tmp_path, monkeypatch, kill)


def test_the_grid_after_a_search_finds_its_pauses_in_the_artifacts_folder_it_is_given(tmp_path):
    # search_study's artifacts_dir is where the search kept its pauses' checkpoints: its grid
    # strategy looks for them there too, not in the store's own folder.
    searched = study(search={"strategy": "halving", "eta": 2})
    elsewhere = tmp_path / "elsewhere"
    with open_store(tmp_path / "r.db") as store:
        search_study(searched, store, artifacts_dir=elsewhere)
        paused = [r for r in store.runs() if r.outcome.verdict is Verdict.RUNG_PAUSE]
        cost = search_study(searched, store, strategy="grid", artifacts_dir=elsewhere).cost
    assert paused and cost.carried_j == pytest.approx(sum(r.outcome.total_energy_j for r in paused))


def test_a_grid_killed_once_a_continued_pause_ended_but_before_its_finish_went_on_continues_it(
    tmp_path, monkeypatch
):
    # The grid continues the search's pause to the target and is killed before the store has its
    # finish (the stored pause is still there, and the continued attempt is a dead RUNNING one):
    # the checkpoint must still be there too, so the next grid continues the pause from it,
    # carrying what the search had spent, rather than re-running the run from scratch.
    from powertrain.store.sqlite import SqliteStore

    real = SqliteStore.finish_run

    def kill(monkeypatch, paused):
        def killed_before_its_finish(self, run_id, outcome):
            (run,) = [r for r in self.runs() if r.id == run_id]
            if run.run_key == paused.run_key:
                raise KeyboardInterrupt  # the process died here: nothing after it ran
            return real(self, run_id, outcome)

        monkeypatch.setattr(SqliteStore, "finish_run", killed_before_its_finish)

    paused, _, run, _ = killed_then_again(tmp_path, monkeypatch, kill)
    assert run.outcome.total_energy_j > paused.outcome.total_energy_j
    assert not list(tmp_path.rglob("checkpoints/*"))  # gone once its record is finished


def test_a_take_on_that_paused_again_and_was_killed_before_the_search_ended_loses_nothing(
    tmp_path, monkeypatch
):
    # The second halving (three finalists) takes on the first's stored pause, pauses it again at a
    # later rung (its checkpoint now holds the later points), goes on, and the process dies before
    # the search's end finishes its records. What the store holds then must still match a
    # checkpoint, so the third search continues the run from it: nothing re-run from scratch,
    # every joule the first search spent on it kept in its record.
    from powertrain.search.sink import DeferringSink

    with open_store(tmp_path / "r.db") as store:
        search_study(study(search={"strategy": "halving", "eta": 2}), store)
        (paused,) = [r for r in store.runs() if r.outcome.verdict is Verdict.RUNG_PAUSE]
        paused_points = store.eval_points(paused.id)
        again = study(search={"strategy": "halving", "eta": 2, "finalists": 3})

        def killed(self):
            raise KeyboardInterrupt  # the process died as the search ended

        monkeypatch.setattr(DeferringSink, "flush", killed)
        with pytest.raises(KeyboardInterrupt):
            search_study(again, store)
        monkeypatch.undo()
        third = search_study(again, store)
        runs = store.runs("tiny-search")
        (run,) = [r for r in runs if r.run_key == paused.run_key]
        points = store.eval_points(run.id)
    assert all(r.outcome is not None for r in runs) and len({r.run_key for r in runs}) == len(runs)
    # continued, not re-run from scratch: a run afresh measures its points' joules anew (the
    # search's cost may still re-run other runs: the second search's own deferred pauses, which
    # its death left unfinished, or a stopped run a confirmation restarts, as energy decides)
    assert points[: len(paused_points)] == paused_points and len(points) > len(paused_points)
    # taken on by the third search (what the first had spent carried), or finished already by the
    # second, whose stop goes into the store as the run ends (a killed search keeps its stops)
    stopped = run.outcome.verdict is Verdict.SEARCH_BOUND and third.cost.carried_j == 0
    assert stopped or third.cost.carried_j >= paused.outcome.total_energy_j
    assert run.outcome.total_energy_j > paused.outcome.total_energy_j
