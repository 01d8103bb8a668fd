"""The confirmation after a search over cost axes: it takes the pick's seeds in the order the search
ran them (its profiled seed first), so it reuses the runs the search made instead of training
seeds the search never needed."""

from __future__ import annotations

import numpy as np
import pytest

from powertrain.search import make_strategy
from powertrain.search.driver import run_search
from powertrain.search.simulate import CurvePool, load_curves
from powertrain.search.space import Space
from tests.unit.test_search_auto import limited_study


@pytest.mark.parametrize("strategy", ["auto", "thompson"])
def test_the_confirmation_reuses_the_seeds_the_search_ran_on_its_pick(strategy):
    curves = load_curves(limited_study(), "limited")
    setups = sorted(curves.labels)
    outside = []
    for order in range(20):  # orders where the pick's profiled seed is not among its first three
        rng = np.random.default_rng([0, order])
        seeds = {
            s: tuple(rng.permutation(sorted(x for k, x in curves.curves if k == s)).tolist())
            for s in setups
        }
        space = Space(tuple(setups[i] for i in rng.permutation(len(setups))), seeds, curves.target)
        search = make_strategy(strategy, rng, warn=None)
        outcome = run_search(search, space, CurvePool(curves.curves), 3)
        windows = {k for k, t in outcome.history.trials.items() if t.paused and not t.points}
        confirmed = {(outcome.pick, s) for s in search.view.space.seeds[outcome.pick][:3]}
        asked = {*search.view.trials, *windows, *confirmed}
        outside += [(order, k) for k in outcome.history.trials if k not in asked]
    assert outside == []  # every run is a pricing window, one the strategy asked, or confirms
