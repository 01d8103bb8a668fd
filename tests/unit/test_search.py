from __future__ import annotations

import math

import pytest

from powertrain.errors import PowertrainError
from powertrain.records import REACHED, Verdict
from powertrain.search import make_strategy
from powertrain.search.predict import PredictedMiss, predict, shape_prior
from powertrain.search.simulate import load_curves, simulate
from powertrain.train.stopping import Stop
from tests.fakes.curves import curve_points, made_up_study


@pytest.fixture(scope="module")
def store():
    return made_up_study()


def test_grid_spends_exactly_the_sum_of_all_runs(store):
    total = sum(r.outcome.total_energy_j for r in store.runs("made-up"))
    sim = simulate(store, "made-up", "grid", repeats=5)
    assert sim.grid_energy_j == pytest.approx(total)
    for order in sim.orders:
        assert order["energy_j"] == pytest.approx(total)
        assert order["within_10pct"] and order["ratio_to_best"] == 1.0


@pytest.mark.parametrize("jitter", [0.0, 0.15, 0.4])
def test_bound_with_beta_one_picks_the_true_best_and_never_spends_more_than_the_grid(jitter):
    study = made_up_study(jitter=jitter)
    sim = simulate(study, "made-up", "bound", repeats=40, seed=3, beta=1.0)
    assert sim.best is not None
    for order in sim.orders:
        assert order["ratio_to_best"] == 1.0  # a true best (ties are equally best)
        assert order["confirmed"]
        assert order["energy_j"] <= sim.grid_energy_j + 1e-9
    assert min(o["share"] for o in sim.orders) < 1.0  # it does save something


@pytest.mark.parametrize("strategy", ["zeus", "halving", "thompson"])
def test_other_strategies_never_spend_more_than_the_grid_plus_a_restart(store, strategy):
    sim = simulate(store, "made-up", strategy, repeats=20, seed=1)
    for order in sim.orders:
        assert 0 < order["energy_j"] <= 2 * sim.grid_energy_j
        assert order["pick"] is not None


@pytest.mark.parametrize("strategy", ["bound", "halving", "thompson"])
def test_replay_is_deterministic_for_a_fixed_seed(store, strategy):
    first = simulate(store, "made-up", strategy, repeats=15, seed=7).to_dict()
    assert simulate(store, "made-up", strategy, repeats=15, seed=7).to_dict() == first
    other = simulate(store, "made-up", strategy, repeats=15, seed=8).to_dict()
    assert [o["energy_j"] for o in other["orders"]] != [o["energy_j"] for o in first["orders"]]


def test_zeus_is_not_confirmed_and_halving_confirms_on_three_seeds(store):
    zeus = simulate(store, "made-up", "zeus", repeats=10)
    assert all(o["energy_j"] == o["search_energy_j"] for o in zeus.orders)
    halving = simulate(store, "made-up", "halving", repeats=10)
    assert any(o["energy_j"] > o["search_energy_j"] for o in halving.orders)


def test_unknown_strategies_and_bad_settings_are_one_clear_message(store):
    with pytest.raises(PowertrainError, match="choose one of grid, zeus, bound"):
        make_strategy("nope")
    with pytest.raises(PowertrainError, match="beta must be a finite number >= 1"):
        simulate(store, "made-up", "bound", beta=0.5)
    with pytest.raises(PowertrainError, match="eta"):
        simulate(store, "made-up", "halving", eta=1.0)
    with pytest.raises(PowertrainError, match="no finished runs"):
        load_curves(store, "absent")


def test_prediction_recovers_a_power_law_curve_and_beats_nothing_by_luck():
    points = [p for p in curve_points(0.0008, 2.0, 2.0, 40)]
    truth = next(p for p in points if p.val_accuracy >= 0.86).total_energy_j
    pred = predict(points[:8], 0.86, max_progress=4000, prior_c=0.5)
    assert pred.p_reach > 0.5
    assert pred.low_j * (1 - 1e-6) <= pred.energy_to_target_j <= pred.high_j * (1 + 1e-6)
    assert abs(pred.energy_to_target_j - truth) / truth < 0.5


def test_predicted_stop_ends_a_run_that_plateaus_below_the_target():
    plateau = curve_points(0.002, 1.0, 2.0, 12)
    plateau = [
        p.__class__(**{**p.__dict__, "val_accuracy": min(p.val_accuracy, 0.6)}) for p in plateau
    ]
    stop = PredictedMiss(target=0.86, max_progress=1200, threshold=0.05, min_evals=6)
    reasons = [stop(p) for p in plateau]
    assert any(r and r.verdict is Verdict.PREDICTED_MISS for r in reasons)
    finished = [curve_points(rate, 1.0, 0.86, 40) for rate in (0.0006, 0.001)]
    rising = PredictedMiss(0.86, 10_000, threshold=0.05, min_evals=6, prior_c=shape_prior(finished))
    assert all(rising(p) is None for p in curve_points(0.0008, 1.0, 0.86, 40))


def test_search_figure_draws_every_strategy(store):
    from matplotlib.figure import Figure

    from powertrain.search.figure import search_figure

    sims = [simulate(store, "made-up", s, repeats=5) for s in ("zeus", "bound")]
    fig = search_figure(sims)
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["zeus", "bound"]
    assert not math.isnan(fig.axes[0].get_xlim()[0])


def test_a_strategy_is_a_stopping_handler_for_the_training_loop(store):
    from powertrain.search.space import History, Space, Trial

    history = History(Space(("a", "b"), {"a": (0,), "b": (0,)}))
    history.trials[("a", 0)] = Trial("a", 0, status=REACHED, energy_j=10, energy_to_target_j=10)
    trial = history.trials.setdefault(("b", 0), Trial("b", 0))
    stop = make_strategy("zeus").handler(history, trial)
    below, above = curve_points(0.0001, 4.0, 0.99, 3)[1:3]  # 8 J, then 12 J
    assert stop(below) is None
    assert stop(above) == Stop(
        Verdict.SEARCH_BOUND, "bound: 12.0 J passed 1 x the best run's (10.0 J)"
    )


def test_halving_settings_change_what_it_spends(store):
    thirds = simulate(store, "made-up", "halving", repeats=10, eta=3)
    halves = simulate(store, "made-up", "halving", repeats=10, eta=2)
    assert thirds.summary()["energy_median_j"] != halves.summary()["energy_median_j"]
    with pytest.raises(PowertrainError, match="rank must be accuracy or predicted"):
        simulate(store, "made-up", "halving", rank="luck")


def _simulated_rungs(store, **settings):
    """Drive halving by hand on the made-up study: the trials as each rung leaves them."""
    from powertrain.search.simulate import CurvePool
    from powertrain.search.space import History, Space, Trial

    data = load_curves(store, "made-up")
    setups = tuple(sorted(data.labels))
    space = Space(setups, {s: (0, 1, 2) for s in setups}, data.target)
    history, strategy = History(space), make_strategy("halving", **settings)
    pool, rungs = CurvePool(data.curves), []
    while starts := strategy.next_runs(history):
        for start in starts:
            trial = history.trials.setdefault((start.setup, start.seed), Trial(start.setup, 0))
            pool.start(start, trial, strategy.handler(history, trial))
        rungs.append({k: (_word(t), len(t.points), t.energy_j) for k, t in history.trials.items()})
    return rungs


def _word(trial) -> str:
    """How a trial stands, in one word."""
    if trial.paused or trial.stopped or trial.missed:
        return "paused" if trial.paused else "stopped" if trial.stopped else "limit"
    return trial.status.value


def test_halving_rung_zero_is_one_evaluation_of_every_setup(store):
    # Not the first run's first-evaluation energy for all: a setup whose evaluations cost less would
    # then run to its second evaluation, and rung 0 would cost twice what it must.
    first = _simulated_rungs(store)[0]
    assert len(first) == 12 and all(points == 1 for _, points, _ in first.values())


@pytest.mark.parametrize("rank", ["accuracy", "predicted"])
def test_halving_takes_its_finalists_to_the_target_together(store, rank):
    last = _simulated_rungs(store, eta=12, rank=rank)[-1]
    ended = [k for k, (status, _, _) in last.items() if status in ("reached", "limit", "stopped")]
    assert len(ended) >= 2  # eta 12 keeps one setup of 12, but never fewer than the 2 finalists
    assert any(status == "reached" for status, _, _ in last.values())


def test_halving_budget_settings_are_checked_at_the_edge(store):
    with pytest.raises(PowertrainError, match=r"growth \(budget factor\) must be > 1, got 1"):
        simulate(store, "made-up", "halving", growth=1)
    with pytest.raises(
        PowertrainError, match="setting min_budget_j: expected a finite number, got nan"
    ):
        simulate(store, "made-up", "halving", min_budget_j=float("nan"))
    # a rung 0 in joules: every setup runs until it has spent at least 5 J, not to one evaluation
    first = _simulated_rungs(store, min_budget_j=5.0)[0]
    assert all(energy_j >= 5.0 or status != "paused" for status, _, energy_j in first.values())
    assert any(points > 1 for _, points, _ in first.values())


# History works out how it stands once per change (a revision number moved by every change its
# answers depend on); these check them against asking the trials each time, after every event of
# every strategy's replay, and after each kind of change made by hand.


def _asked_each_time(history) -> dict:
    """History's answers worked out by brute force from its trials, as it once did per question."""
    trials = list(history.trials.values())
    reached = [t.energy_to_target_j for t in trials if t.reached]
    means = {}
    for setup in history.space.setups:
        seeds = [history.trials.get((setup, s)) for s in history.space.seeds[setup]]
        if all(t is not None and t.reached for t in seeds):
            means[setup] = sum(t.energy_to_target_j for t in seeds) / len(seeds)
    return {
        "best_run_j": min(reached) if reached else None,
        "setup_means_j": means,
        "best_setup_mean_j": min(means.values()) if means else None,
        "of_setup": {s: [id(t) for t in trials if t.setup == s] for s in history.space.setups},
    }


def _answers(history) -> dict:
    setups = history.space.setups
    return {
        "best_run_j": history.best_run_j(),
        "setup_means_j": {s: m for s in setups if (m := history.setup_mean_j(s)) is not None},
        "best_setup_mean_j": history.best_setup_mean_j(),
        "of_setup": {s: [id(t) for t in history.of_setup(s)] for s in setups},
    }


class Watched:
    """A strategy whose histories (the search's, and a cost-axis search's view) are checked against
    brute force before and after each question it is asked and at every evaluation of every run."""

    def __init__(self, inner) -> None:
        self.inner, self.histories, self.checks = inner, [], 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def check(self) -> None:
        view = getattr(self.inner, "view", None)
        for history in [*self.histories, *([view] if view is not None else [])]:
            assert _answers(history) == _asked_each_time(history)
            self.checks += 1

    def next_runs(self, history):
        if history not in self.histories:
            self.histories.append(history)
        self.check()
        starts = self.inner.next_runs(history)
        self.check()
        return starts

    def handler(self, history, trial):
        stop = self.inner.handler(history, trial)

        def checked(point):
            self.check()
            return stop(point)

        return checked


def _cost_axis_study():
    """Learning rates x power limits (the limit scales a step's energy, never the curve)."""
    from powertrain.store.memory import MemoryStore
    from tests.fakes.curves import add_run

    store = MemoryStore()
    store.save_study("made-up", {"name": "made-up", "task": {"target_accuracy": 0.86}})
    for i, lr in enumerate((0.1, 0.03, 0.01, 0.003, 0.001)):
        for limit, factor in ((150, 1.3), (250, 1.0), (350, 1.6)):
            for seed in range(4):
                rate = 0.0004 * (5 - i) * (1 + 0.1 * math.sin(3 * seed + i))
                setup = {"lr": lr, "gpu_power_limit_w": limit}
                add_run(store, "made-up", setup, seed, rate, 2.0 * factor)
    return store


@pytest.mark.parametrize("grid", ["plain", "cost axis"])
@pytest.mark.parametrize(
    "strategy", ["grid", "zeus", "bound", "halving", "thompson", "auto", "optuna"]
)
def test_the_historys_answers_equal_brute_force_after_every_event_of_a_replay(grid, strategy):
    import numpy as np

    from powertrain.search.driver import run_search
    from powertrain.search.simulate import CurvePool
    from powertrain.search.space import Space

    data = load_curves(
        made_up_study(jitter=0.3) if grid == "plain" else _cost_axis_study(), "made-up"
    )
    setups = sorted(data.labels)
    settings = {"trials": 8} if strategy == "optuna" else {}
    checks = 0
    for order in range(4 if strategy != "optuna" else 1):
        rng = np.random.default_rng([5, order])
        seeds = {
            s: tuple(rng.permutation(sorted(k for x, k in data.curves if x == s)).tolist())
            for s in setups
        }
        space = Space(tuple(setups[i] for i in rng.permutation(len(setups))), seeds, data.target)
        watched = Watched(make_strategy(strategy, rng, warn=None, **settings))
        outcome = run_search(watched, space, CurvePool(data.curves))
        watched.check()  # after the confirmation too
        assert outcome.history in watched.histories
        checks += watched.checks
    assert checks > 50  # it did look, many times


def test_the_historys_answers_follow_every_kind_of_change_made_by_hand():
    from powertrain.records import Status
    from powertrain.search.space import History, Space, Trial

    space = Space(("a", "b"), {"a": (0, 1), "b": (0,)})
    history, view = History(space), History(space)
    first = Trial("a", 0, status=REACHED, energy_to_target_j=7.0)
    history.trials[("a", 0)] = first
    assert history.best_run_j() == 7.0 and view.best_run_j() is None
    view.trials[("a", 0)] = first  # a trial made before: shared, as a cost-axis view does
    assert view.best_run_j() == 7.0 and view.of_setup("a") == [first]
    first.energy_to_target_j = 6.0  # set directly, not by a method
    assert history.best_run_j() == view.best_run_j() == 6.0
    assert history.setup_mean_j("a") is None  # seed 1 has not run
    second = Trial("a", 1, status=Status.RUNNING, energy_to_target_j=10.0)
    history.trials.setdefault(("a", 1), second)
    assert history.setup_mean_j("a") is None and history.of_setup("a") == [first, second]
    second.status = Status.REACHED
    assert history.setup_mean_j("a") == 8.0 and history.best_setup_mean_j() == 8.0
    assert view.setup_mean_j("a") is None  # the view never had seed 1
    history.trials.update({("b", 0): Trial("b", 0, status=REACHED, energy_to_target_j=3.0)})
    assert history.best_run_j() == 3.0 and history.best_setup_mean_j() == 3.0
    first.afresh()  # started again from scratch: running, its energy-to-target still kept
    assert history.setup_mean_j("a") is None and view.best_run_j() is None
    del history.trials[("b", 0)]
    assert history.best_run_j() == 10.0 and history.best_setup_mean_j() is None
    assert history.of_setup("b") == [] and history.of_setup("a") == [first, second]
    view.trials.pop(("a", 0))
    assert view.of_setup("a") == [] and history.of_setup("a") == [first, second]
    assert _answers(history) == _asked_each_time(history)
    assert _answers(view) == _asked_each_time(view)
