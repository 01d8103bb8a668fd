"""Live search on a tiny study (digits, an MLP, one thread; runs of a second or less): the strategies
decide what trains and when a run stops, the stopped runs are kept as censored lower bounds, and every
search reports what it cost, which must be what its runs in the store cost."""

from __future__ import annotations

import json

import pytest
import yaml

from powertrain.analysis.analyse import analyse
from powertrain.monitor import below_resolution
from powertrain.records import CENSORED, REACHED, Verdict
from powertrain.search import live
from powertrain.search.run import run_with_search, search_study
from powertrain.search.simulate import setup_key
from powertrain.search.space import Start
from powertrain.search.strategy import Strategy
from powertrain.store import open_store
from powertrain.study.config import parse_study
from powertrain.study.runner import run_study
from tests.cli_helpers import powertrain

# The best setup (learning rate 0.3) first, so that the others are bounded by it: about 40 steps to
# the target against 110 or more (energies differ by 4x or more, well above the estimate's grain).
STUDY = {
    "name": "tiny-search",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "target_accuracy": 0.9,
        "eval_every_steps": 10,
        "max_epochs": 4,
    },
    "grid": {"learning_rate": [0.3, 0.05, 0.02], "batch_size": [16]},
    "seeds": [0, 1],
    "threads": 1,
    # the CPU and its estimate on any machine (on a GPU the first run paid the GPU's start-up)
    "device": "cpu",
    "meters": {"backends": ["estimate"]},
}


def study(**changes):
    return parse_study({**STUDY, **changes})


def best_setup(store, name: str) -> str:
    means = {}
    for r in store.runs(name):
        means.setdefault(r.setup["learning_rate"], []).append(
            r.outcome.energy_to_target_j if r.status == REACHED else float("inf")
        )
    return min(means, key=lambda k: sum(means[k]) / len(means[k]))


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory):
    with open_store(tmp_path_factory.mktemp("grid") / "r.db") as store:
        run_study(study(), store)
        yield store


def assert_pauses_keep_their_checkpoints(folder, runs) -> None:
    """The checkpoints under ``folder`` are those of the runs stored paused, never continued (a later
    search may take them on), and no other: every other run's went at its end or the search's."""
    paused = {r.run_key for r in runs if r.outcome.verdict is Verdict.RUNG_PAUSE}
    assert {p.stem for p in folder.rglob("checkpoints/*")} == paused


def stored_energy_j(store, name: str, keys) -> float:
    runs = {r.run_key: r for r in store.runs(name)}
    return sum(runs[k].outcome.total_energy_j for k in keys)


def without_getrusage(monkeypatch) -> None:
    """This process's CPU time in 10 ms clock ticks (os.times), as on a platform without getrusage:
    the tiny study's sub-second runs are then below what the estimate resolves well."""
    monkeypatch.setattr("powertrain.meters.estimate.resource", None)


def test_live_bound_picks_the_same_best_setup_as_the_full_grid(grid_store, tmp_path, monkeypatch):
    without_getrusage(monkeypatch)
    with open_store(tmp_path / "r.db") as store:
        live = search_study(study(), store, strategy="bound")
        runs = store.runs("tiny-search")
        measured_best = best_setup(store, "tiny-search")
    assert live.outcome.pick is not None and live.outcome.confirmed
    assert best_setup(grid_store, "tiny-search") == 0.3
    # bound (beta 1) picks the best of what it measured: the grid's best, where the sub-second
    # runs' 10 ms ticks (below) tell the two fastest setups apart; once in CI they did not
    assert live.cost.pick == f"learning_rate={measured_best} batch_size=16"
    assert measured_best in (0.3, 0.05)
    stopped = [r for r in runs if r.outcome.verdict is Verdict.SEARCH_BOUND]
    assert stopped and all(r.status == CENSORED for r in stopped)  # kept as lower bounds
    assert live.cost.runs_stopped == len(stopped)
    # It trains less than the grid. Counted in steps, not joules: a stall of the machine (seen in CI)
    # can put half a joule of estimated energy on one sub-second run of either.
    assert sum(r.outcome.steps for r in runs) < sum(r.outcome.steps for r in grid_store.runs())
    # sub-second runs: below what the CPU-time estimate resolves well, which the search says
    imprecise = [r for r in runs if any(below_resolution(f) for f in r.outcome.faults)]
    [note] = [n for n in live.cost.notes if "resolves well" in n]
    assert imprecise and note.startswith(f"{len(imprecise)} of {len(runs)} runs' energy is below")
    # In microseconds (getrusage, the grid's runs), this process's time resolves them: a note there
    # can only be for other processes read in ticks (in a session that started a worker by spawn,
    # multiprocessing's resource tracker is a child all along).
    grid_notes = [f for r in grid_store.runs() for f in r.outcome.faults if below_resolution(f)]
    assert all("other process" in f for f in grid_notes), grid_notes


def test_live_grid_is_todays_run(tmp_path, monkeypatch):
    without_getrusage(monkeypatch)
    with open_store(tmp_path / "a.db") as a, open_store(tmp_path / "b.db") as b:
        today, none = run_with_search(study(), a)  # no strategy, no search: key: run_study
        grid, cost = run_with_search(study(), b, strategy="grid")
        keys = lambda s: sorted((r.run_key, r.stage) for r in s.runs())  # noqa: E731
        assert none is None and keys(a) == keys(b) and today.ran == grid.ran == 6
        assert [r.status for r in sorted(a.runs(), key=lambda r: r.run_key)] == [
            r.status for r in sorted(b.runs(), key=lambda r: r.run_key)
        ]
        assert cost.runs_started == 6 and cost.grid_basis == "in full"
        assert cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in b.runs()))
        assert cost.share == pytest.approx(1.0)
        # its pick rests on sub-second runs: it says so, as every other strategy's search does
        imprecise = [r for r in b.runs() if any(below_resolution(f) for f in r.outcome.faults)]
        [note] = [n for n in cost.notes if "resolves well" in n]
        assert imprecise and note.startswith(f"{len(imprecise)} of 6 runs' energy is below")


@pytest.mark.parametrize("strategy", ["zeus", "bound", "halving", "thompson"])
def test_each_strategys_reported_cost_is_what_its_runs_cost_in_the_store(strategy, tmp_path):
    with open_store(tmp_path / "r.db") as store:
        live = search_study(study(), store, strategy=strategy)
        runs = store.runs("tiny-search")
        ledger = store.search_costs()["tiny-search"]
    assert all(r.outcome is not None for r in runs)  # nothing left half-finished
    stored = sum(r.outcome.total_energy_j for r in runs)
    cost = live.cost
    assert cost.runs_started == len(runs) and cost.stored_j == pytest.approx(stored)
    # Attempts started afresh (a stopped run the confirmation restarts) are counted on top; halving
    # continues a paused run from its checkpoint, so its attempts are in its one record.
    assert cost.spent_j == pytest.approx(stored + cost.superseded_j)
    assert cost.spent_j == pytest.approx(live.outcome.total_j)
    assert ledger == json.loads(json.dumps(cost.to_dict()))
    assert any(line.startswith(f"search {strategy} on tiny-search") for line in cost.lines())


def test_live_halving_continues_a_promoted_run_where_it_paused(tmp_path, monkeypatch):
    from powertrain.study import execute as execute_module

    real, resumed = execute_module.execute_run, []

    def spy(spec, *args, **kwargs):
        resumed.append(spec.run_key) if kwargs.get("resume") else None
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(execute_module, "execute_run", spy)
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store)
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert resumed  # rung 0 pauses every setup at its first evaluation; promoted ones continue
    assert_continued_in_one_record(live, runs, points, resumed)
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def assert_continued_in_one_record(live, runs, points, continued) -> None:
    """A halving search whose promoted runs (``continued``) went on where they paused: nothing
    re-run from scratch, one record per run with every point once, cumulative since its start."""
    assert live.cost.superseded_j == 0  # nothing re-run from scratch
    assert len({r.run_key for r in runs}) == len(runs) == live.cost.runs_started
    for run in runs:  # one record per run: every point once, cumulative since its first start
        pts = points[run.run_key]
        assert [p.index for p in pts] == list(range(len(pts)))
        assert all(a.step < b.step for a, b in zip(pts, pts[1:], strict=False))
        energies = [p.total_energy_j for p in pts]
        assert energies == sorted(energies) and run.outcome.total_energy_j >= energies[-1]
        assert run.outcome.steps == pts[-1].step
    for key in continued:  # paused at its first evaluation, then promoted: continued past it
        assert len(points[key]) > 1
    assert live.cost.spent_j == pytest.approx(live.outcome.total_j)


def test_a_killed_halving_search_begins_its_unfinished_runs_again(tmp_path, monkeypatch):
    from powertrain.search.sink import DeferringSink
    from powertrain.study import execute as execute_module

    s = study(search={"strategy": "halving", "eta": 2})
    real, calls = execute_module.execute_run, []

    def killed_at_the_fifth(*args, **kwargs):  # two rungs in: paused runs are on disk
        calls.append(kwargs.get("resume"))
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with open_store(tmp_path / "r.db") as store:
        monkeypatch.setattr(execute_module, "execute_run", killed_at_the_fifth)
        monkeypatch.setattr(DeferringSink, "flush", lambda self: None)  # killed
        with pytest.raises(KeyboardInterrupt):
            search_study(s, store)
        assert any(r.outcome is None for r in store.runs()) and True in calls
        assert list(tmp_path.rglob("checkpoints/*.pt"))
        monkeypatch.undo()
        search_study(s, store)
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert all(r.outcome is not None for r in runs)
    assert len({r.run_key for r in runs}) == len(runs)  # no duplicates
    for pts in points.values():
        assert [p.index for p in pts] == list(range(len(pts)))
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def test_optuna_samples_a_continuous_space_and_records_trials_as_ordinary_runs(tmp_path):
    search = {
        "strategy": "optuna",
        "trials": 3,
        "beta": 2,
        "space": {"learning_rate": {"low": 0.05, "high": 0.5, "log": True}},
    }
    s = study(search=search, grid={"batch_size": [16, 64]})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store)
        runs = store.runs("tiny-search")
        report = analyse(store, "tiny-search")
    trials = [r for r in runs if r.seed == 0]  # every trial on its setup's first seed
    assert len(trials) == 3 and all(r.outcome is not None for r in runs)
    rates = {r.setup["learning_rate"] for r in trials}
    assert len(rates) == 3 and all(0.05 <= x <= 0.5 for x in rates)
    assert {r.setup["batch_size"] for r in runs} <= {16, 64}
    # The confirmation runs a sampled point itself on the other seed: no new point is sampled.
    assert {r.setup["learning_rate"] for r in runs} == rates
    assert live.cost.runs_started == len(runs)
    assert live.cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))
    assert live.cost.grid_j is None and live.cost.grid_basis == "unknown"
    assert report.groups and report.search[0].live["strategy"] == "optuna"


def test_live_optuna_confirms_its_pick_on_its_seeds_and_counts_the_confirmation(tmp_path):
    # One trial: its setup is the only candidate, so the confirmation must run its second seed.
    s = study(search={"strategy": "optuna", "trials": 1})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store)
        runs = store.runs("tiny-search")
    assert sorted(r.seed for r in runs) == [0, 1] and len({r.run_key for r in runs}) == 2
    assert runs[0].setup == runs[1].setup  # the pick, run on its other seed
    assert all(r.status == REACHED for r in runs)
    assert live.cost.confirmed and live.outcome.confirmed
    assert live.cost.pick == f"learning_rate={runs[0].setup['learning_rate']} batch_size=16"
    assert live.outcome.search_j < live.outcome.total_j  # the confirmation cost something ...
    assert live.cost.runs_started == 2  # ... and the search's cost counts it
    assert live.cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))


def test_optuna_multi_objective_with_nsga2_confirms_a_member_of_the_pareto_front(tmp_path):
    search = {"strategy": "optuna", "trials": 2, "sampler": "nsga2"}
    s = study(search={**search, "objectives": ["energy", "accuracy"]})
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store)
        runs = store.runs("tiny-search")
    assert len([r for r in runs if r.seed == 0]) >= 1 and len(runs) <= 4
    pick, _, front = live.cost.pick.partition(" (Pareto front: ")
    assert pick.startswith("learning_rate=") and pick in front
    picked = [r for r in runs if f"learning_rate={r.setup['learning_rate']} " in pick + " "]
    assert live.cost.confirmed == (
        sorted(r.seed for r in picked) == [0, 1] and all(r.status == REACHED for r in picked)
    )


def test_predicted_stop_is_off_unless_asked_and_keeps_what_it_stops_as_censored(tmp_path):
    assert study().search is None
    eager = {"strategy": "grid", "predict_stop": {"threshold": 0.999, "min_evals": 1}}
    s = study(search=eager, grid={"learning_rate": [0.02], "batch_size": [16]}, seeds=[0])
    with open_store(tmp_path / "r.db") as store:
        live = search_study(s, store)
        (run,) = store.runs("tiny-search")
    assert run.status == CENSORED and run.outcome.verdict is Verdict.PREDICTED_MISS
    assert live.cost.runs_stopped == 1


def test_strategy_settings_are_checked_before_anything_runs(tmp_path):
    from powertrain.errors import PowertrainError

    with open_store(tmp_path / "r.db") as store:
        with pytest.raises(PowertrainError, match="strategy bound has no setting eta"):
            search_study(study(search={"strategy": "bound", "eta": 3}), store)
        with pytest.raises(PowertrainError, match="no search strategy named 'nope'"):
            search_study(study(), store, strategy="nope")
        assert store.runs() == []


def test_the_report_replays_a_finished_grid_and_shows_a_live_searchs_cost(grid_store, tmp_path):
    replayed = analyse(grid_store, "tiny-search").search[0]
    strategies = ["auto", "zeus", "bound", "halving", "thompson"]  # the recommended one first
    assert [s.strategy for s in replayed.simulations] == strategies
    simulated = replayed.to_dict()["simulations"]
    assert simulated[0]["share_median"] > 0
    assert [s["in_sample"] for s in simulated] == [False] * 5  # no strategy was tuned on it
    with open_store(tmp_path / "r.db") as store:
        search_study(study(), store, strategy="bound")
        section = analyse(store, "tiny-search").search[0]
    assert section.live["strategy"] == "bound" and not section.simulations
    assert section.why_no_simulation.startswith("a search stopped ")


def test_run_strategy_on_the_command_line_prints_the_search_cost(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**STUDY, "search": {"strategy": "halving", "eta": 2}}))
    out = powertrain("run", str(path), "--db", str(tmp_path / "r.db"), "--json")
    assert out.returncode == 0, out.stderr
    assert "search halving on tiny-search" in out.stderr
    summary = json.loads(out.stdout)  # one JSON document on stdout (the --json convention)
    assert summary["search"]["strategy"] == "halving" and summary["search"]["runs_started"] >= 3
    again = powertrain("run", str(path), "--db", str(tmp_path / "r.db"), "--strategy", "bound")
    assert again.returncode == 0, again.stderr
    assert "search bound on tiny-search" in again.stderr and "reused" in again.stderr


def test_a_later_halving_that_promotes_a_stored_pause_continues_it_from_its_checkpoint(
    grid_store, tmp_path
):
    # The first halving keeps two of three setups after rung 0 and leaves the third paused in the
    # store; a second, with three finalists, promotes it: it goes on from its checkpoint (one
    # record, the grid's curve point for point) while the runs the first finished are reused (one
    # the first stopped by its bound and the second takes further is re-run from scratch).
    with open_store(tmp_path / "r.db") as store:
        first = search_study(study(search={"strategy": "halving", "eta": 2}), store)
        paused = [r for r in store.runs("tiny-search") if r.outcome.verdict is Verdict.RUNG_PAUSE]
        again = study(search={"strategy": "halving", "eta": 2, "finalists": 3})
        second = search_study(again, store)
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert first.outcome.pick is not None and len(paused) == 1
    assert len({r.run_key for r in runs}) == len(runs)  # no duplicates
    (key,) = [r.run_key for r in paused]
    (run,) = [r for r in runs if r.run_key == key]
    grid = {r.run_key: r for r in grid_store.runs("tiny-search")}
    assert run.outcome.verdict is not Verdict.RUNG_PAUSE and len(points[key]) > 1
    whole = [_curve(p) for p in grid_store.eval_points(grid[key].id)]
    assert [_curve(p) for p in points[key]] == whole[: len(points[key])]  # as if never paused
    paused_j = paused[0].outcome.total_energy_j  # continued from its checkpoint: not re-run
    assert second.cost.superseded_j == pytest.approx(second.cost.carried_j - paused_j)
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def _curve(point) -> tuple:
    return (point.index, point.step, point.samples_seen, point.train_loss, point.val_accuracy)


class ConfirmStored(Strategy):
    """Runs the first seed of ``setup`` (stored stopped by an earlier search: fed from the store)
    and offers it alone: the confirmation then needs that run to the target."""

    name = "bound"

    def __init__(self, setup: str) -> None:
        super().__init__()
        self.setup = setup

    def next_runs(self, history) -> list[Start]:
        return [Start(self.setup, 0)] if history.trial(self.setup, 0) is None else []

    def candidates(self, history) -> list[str]:
        return [self.setup]


def test_a_later_confirmation_reruns_a_run_an_earlier_search_stopped_over_its_record(
    grid_store, tmp_path, monkeypatch
):
    # The first search's bound stops a setup's runs; a second confirms that setup: each of its
    # seeds the first stopped is re-run from scratch in place of its stored stop (the stop was the
    # first search's decision: a lower bound, not a miss), and reaches the target as the grid's.
    with open_store(tmp_path / "r.db") as store:
        search_study(study(), store, strategy="bound")
        before = {r.run_key: r for r in store.runs()}
        stopped = next(
            r for r in before.values() if r.outcome.verdict is Verdict.SEARCH_BOUND and r.seed == 0
        )
        setup = setup_key(stopped.setup)
        monkeypatch.setattr(live, "make_strategy", lambda *a, **kw: ConfirmStored(setup))
        second = search_study(study(), store, strategy="bound")
        runs = [r for r in store.runs("tiny-search") if setup_key(r.setup) == setup]
        points = {r.run_key: store.eval_points(r.id) for r in runs}
        assert len({r.run_key for r in store.runs()}) == len(store.runs())  # no duplicates
    assert second.outcome.confirmed and second.cost.pick == _label(stopped.setup)
    grid = {r.run_key: r for r in grid_store.runs("tiny-search")}
    assert len(runs) == 2
    for run in runs:
        whole = grid[run.run_key]
        assert run.status == REACHED and run.outcome.steps == whole.outcome.steps
        assert [_curve(p) for p in points[run.run_key]] == [
            _curve(p) for p in grid_store.eval_points(whole.id)
        ]
    taken = [before[r.run_key] for r in runs if r.run_key in before]
    stopped_j = sum(r.outcome.total_energy_j for r in taken if r.outcome.verdict.by_search)
    assert second.cost.carried_j == pytest.approx(stopped_j)
    assert second.cost.superseded_j == pytest.approx(stopped_j)


def _label(setup: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in setup.items())


def test_the_grid_after_a_search_trains_the_runs_the_search_paused_or_stopped(grid_store, tmp_path):
    # halving leaves a setup paused at its rung and others stopped; the grid run afterwards (the
    # full comparison) trains each of those to the grid's own end, over its record: the store then
    # holds the grid's runs, each once, point for point as a grid run alone.
    from powertrain.study.plan import SEARCH_ONLY

    searched_study = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        search_study(searched_study, store)
        stored = store.runs()
        searched = {r.run_key for r in stored if r.outcome.verdict in SEARCH_ONLY}
        ran = run_study(searched_study, store)
        runs = store.runs("tiny-search")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
        assert run_study(searched_study, store).ran == 0  # all done now: nothing again
    grid = {r.run_key: r for r in grid_store.runs("tiny-search")}
    assert searched and len(runs) == len({r.run_key for r in runs}) == len(grid)
    assert ran.ran == len(grid) - (len(stored) - len(searched))  # the searched ones, and the rest
    for run in runs:
        whole = grid[run.run_key]
        assert run.outcome.verdict is whole.outcome.verdict and run.status == whole.status
        assert [_curve(p) for p in points[run.run_key]] == [
            _curve(p) for p in grid_store.eval_points(whole.id)
        ]
    assert not list(tmp_path.rglob("checkpoints/*.pt"))  # the pauses' checkpoints went with them


class StopThenConfirm(ConfirmStored):
    """Stops the first seed of ``setup`` at its first evaluation (a bound of its own) and offers
    the setup alone: the confirmation then needs that run to the target."""

    def stop(self, history, trial, point):
        from powertrain.train.stopping import Stop

        return Stop(Verdict.SEARCH_BOUND, "a bound of the test's") if point.index == 0 else None


def test_a_confirmation_needing_a_stored_finished_run_this_search_stopped_reuses_its_record(
    tmp_path, monkeypatch
):
    # The grid ran every run to its end; a search stops the best setup's stored run at its first
    # point, then its confirmation needs it whole: the stored record answers it (it is not the
    # earlier search's stop, and the store refuses to begin a finished run again).
    with open_store(tmp_path / "r.db") as store:
        run_study(study(), store)
        before = {r.run_key: r for r in store.runs("tiny-search")}
        best = next(r for r in before.values() if r.setup["learning_rate"] == 0.3 and r.seed == 0)
        assert best.status == REACHED
        monkeypatch.setattr(
            live, "make_strategy", lambda *a, **kw: StopThenConfirm(setup_key(best.setup))
        )
        second = search_study(study(), store, strategy="bound")
        after = {r.run_key: r for r in store.runs("tiny-search")}
    assert second.outcome.confirmed and second.cost.pick == _label(best.setup)
    assert after == before  # nothing trained again, nothing replaced
    assert second.cost.carried_j == 0 and second.cost.spent_j == 0


def test_a_later_confirmation_rerunning_a_stored_stop_it_stopped_sooner_counts_its_own_run_once(
    tmp_path, monkeypatch
):
    # An earlier search stopped a run after several points; this one stops it sooner, at its first
    # fed point, then its confirmation re-runs it from scratch: the search spent that run
    # and the confirmation's other seed (the stored attempt's energy carried, whatever share of it
    # was fed here).
    with open_store(tmp_path / "r.db") as store:
        search_study(study(), store, strategy="bound")
        stopped = [r for r in store.runs() if r.outcome.verdict is Verdict.SEARCH_BOUND]
        stopped = max(stopped, key=lambda r: len(store.eval_points(r.id)))
        assert len(store.eval_points(stopped.id)) >= 2
        monkeypatch.setattr(
            live, "make_strategy", lambda *a, **kw: StopThenConfirm(setup_key(stopped.setup))
        )
        second = search_study(study(), store, strategy="bound")
        (again,) = [r for r in store.runs("tiny-search") if r.run_key == stopped.run_key]
    assert again.status == REACHED
    assert second.cost.carried_j == pytest.approx(stopped.outcome.total_energy_j)
    assert second.cost.spent_j == pytest.approx(second.cost.stored_j)  # the runs it trained
