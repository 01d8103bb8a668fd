"""The optuna strategy in replay: TPE over a finished study's setups (ask/tell), each trial fed its
setup's next stored seed, the pick confirmed on other seeds like every other strategy's."""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest

from powertrain.errors import PowertrainError
from powertrain.search import STRATEGIES, make_strategy
from powertrain.search.driver import run_search
from powertrain.search.optuna_strategy import WHOLE_SETUP, OptunaStrategy, grid_axes
from powertrain.search.simulate import CurvePool, load_curves, setup_key, simulate
from powertrain.search.space import Space
from powertrain.store.memory import MemoryStore
from tests.fakes.curves import add_run, made_up_study


@pytest.fixture(scope="module")
def store():
    return made_up_study()


def clearly_cheapest(bs=(16, 32), lr=(0.01, 0.03, 0.09)) -> MemoryStore:
    """Every setup but batch 32, lr 0.03 learns slowly at 3 J an evaluation and never reaches the
    target (0.86) within its 16 evaluations (48 J); that one reaches it after 9 to 12 J (by seed)."""
    store = MemoryStore()
    store.save_study("clear", {"name": "clear", "task": {"target_accuracy": 0.86}})
    for b in bs:
        for r in lr:
            best = (b, r) == (32, 0.03)
            for seed in range(3):
                rate = 0.002 * (1 + 0.2 * seed) if best else 0.0006 + 0.0001 * seed
                add_run(
                    store,
                    "clear",
                    {"batch_size": b, "learning_rate": r},
                    seed,
                    rate,
                    1 + 2 * (not best),
                )
    return store


def test_optuna_replay_is_deterministic_for_a_fixed_seed(store):
    first = simulate(store, "made-up", "optuna", repeats=10, seed=7).to_dict()
    assert simulate(store, "made-up", "optuna", repeats=10, seed=7).to_dict() == first
    other = simulate(store, "made-up", "optuna", repeats=10, seed=8).to_dict()
    assert [o["energy_j"] for o in other["orders"]] != [o["energy_j"] for o in first["orders"]]


@pytest.mark.parametrize("beta", [None, 1.0])
def test_optuna_replay_picks_the_true_best_when_one_setup_is_clearly_cheapest(beta):
    settings = {} if beta is None else {"beta": beta}
    sim = simulate(clearly_cheapest(), "clear", "optuna", repeats=30, seed=2, **settings)
    assert sim.best == "batch_size=32 learning_rate=0.03"
    for order in sim.orders:
        assert order["pick"] == sim.best and order["confirmed"] and order["ratio_to_best"] == 1.0
        # Without a bound no run is started twice or stopped: never more than the grid.
        assert order["energy_j"] <= sim.grid_energy_j + 1e-9
        assert order["energy_j"] > order["search_energy_j"] or order["runs"] >= 3
    assert sim.summary()["share_median"] < 1.0


def test_a_setup_asked_again_gets_its_next_seed_and_one_with_none_left_its_mean():
    curves = load_curves(clearly_cheapest(bs=(32,), lr=(0.01, 0.03)), "clear")
    setups = tuple(sorted(curves.labels))
    space = Space(setups, {s: (2, 0, 1) for s in setups}, curves.target)
    strategy = make_strategy("optuna", trials=12)
    outcome = run_search(strategy, space, CurvePool(curves.curves), confirm_seeds=3)
    # 12 trials over 2 setups x 3 seeds: each (setup, seed) ran once (a rerun would have raised),
    # the seeds in the space's order, and the other trials were told what their setup had.
    assert len(outcome.history.trials) == 6 and len(strategy.ostudy.trials) == 12
    for setup in setups:
        seeds = [seed for (s, seed) in outcome.history.trials if s == setup]
        assert seeds == [2, 0, 1][: len(seeds)]
    best = next(s for s in setups if "0.03" in curves.labels[s])
    mean_j = statistics.fmean(t.energy_to_target_j for t in outcome.history.of_setup(best))
    told = [t.value for t in strategy.ostudy.trials if t.value is not None]
    assert told.count(pytest.approx(mean_j)) >= 1
    assert outcome.pick == best and outcome.confirmed


class TwoAtOnce(CurvePool):
    """Stored curves with room for two runs at once: a run ends only when the loop waits."""

    def __init__(self, curves) -> None:
        super().__init__(curves)
        self.under_way, self.most = [], 0

    def capacity(self) -> int:
        return 2 - len(self.under_way)

    def in_flight(self) -> int:
        return len(self.under_way)

    def start(self, start, trial, stop) -> None:
        trial.again()
        self.under_way.append((start, trial, stop))
        self.most = max(self.most, len(self.under_way))

    def wait(self) -> None:
        super().start(*self.under_way.pop(0))


def test_two_trials_at_once_are_each_told_as_their_run_ends():
    """A setup whose seeds are all under way is told once they end, not as pruned meanwhile."""
    from optuna.trial import TrialState

    curves = load_curves(clearly_cheapest(bs=(32,), lr=(0.01, 0.03)), "clear")
    setups = tuple(sorted(curves.labels))
    space = Space(setups, {s: (0,) for s in setups}, curves.target)  # one seed each
    strategy = make_strategy("optuna", trials=6)
    pool = TwoAtOnce(curves.curves)
    outcome = run_search(strategy, space, pool, confirm_seeds=1)
    assert pool.most == 2 and len(outcome.history.trials) == 2  # each (setup, seed) once
    assert all(t.state is not TrialState.RUNNING for t in strategy.ostudy.trials)
    best = next(s for s in setups if "0.03" in curves.labels[s])
    choices, setup_of = strategy.axes
    drew = [setup_of[tuple(t.params[a] for a in choices)] for t in strategy.ostudy.trials]
    assert drew.count(best) >= 2  # asked again for it, while or after its one seed ran ...
    for asked, setup in zip(strategy.ostudy.trials, drew, strict=True):
        # ... and told what it reached each time: never pruned while its run was under way
        assert asked.state is TrialState.COMPLETE or setup != best
    assert outcome.pick == best and outcome.confirmed


def test_grid_axes_are_categorical_choices_or_one_axis_of_whole_setups():
    full = [setup_key({"batch_size": b, "lr": r}) for b in (16, 32) for r in (0.1, 0.3)]
    choices, combos = grid_axes(tuple(full))
    assert choices == {"batch_size": ["16", "32"], "lr": ["0.1", "0.3"]}
    assert combos[("32", "0.1")] == setup_key({"batch_size": 32, "lr": 0.1})
    choices, combos = grid_axes(tuple(full[:3]))  # not every combination: the setups themselves
    assert choices == {WHOLE_SETUP: sorted(full[:3])} and len(combos) == 3


def test_optuna_is_registered_checks_its_settings_and_is_imported_only_when_it_asks(store):
    assert STRATEGIES["optuna"] is OptunaStrategy
    with pytest.raises(PowertrainError, match="trials must be a whole number from 1 to 10000"):
        simulate(store, "made-up", "optuna", trials=0)
    with pytest.raises(PowertrainError, match="beta must be a finite number >= 1"):
        simulate(store, "made-up", "optuna", beta=0.5)
    with pytest.raises(PowertrainError, match="strategy optuna has no setting eta"):
        make_strategy("optuna", eta=3)
    code = (
        "import sys\n"
        "from powertrain.search import make_strategy\n"
        "from powertrain.search.simulate import simulate\n"
        "from tests.fakes.curves import made_up_study\n"
        "make_strategy('optuna', trials=5)\n"
        "simulate(made_up_study(setups=3), 'made-up', 'bound', repeats=2)\n"
        "assert 'optuna' not in sys.modules, 'imported too early'\n"
        "simulate(made_up_study(setups=3), 'made-up', 'optuna', repeats=1, trials=3)\n"
        "assert 'optuna' in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
