"""The strategies that price no cost axis: ``grid`` runs every (setup, seed), as its live search
does, and ``optuna`` samples a cost axis as any other; neither takes ``price_window``, and each says
so in one line rather than ignoring it."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.search import make_strategy
from powertrain.search.simulate import load_curves, simulate
from tests.unit.test_search_auto import limited_study


def test_grid_replays_every_run_of_a_grid_with_a_power_limit():
    curves = load_curves(limited_study(), "limited")
    sim = simulate(curves, strategy="grid", repeats=2)
    assert [o["share"] for o in sim.orders] == pytest.approx([1.0, 1.0])  # as `run --strategy grid`
    assert sim.cost_axes == () and sim.priced_note() is None


@pytest.mark.parametrize("strategy", ["grid", "optuna"])
@pytest.mark.parametrize("window", [0.5, "abc"])
def test_a_price_window_for_a_strategy_that_prices_nothing_is_refused(strategy, window):
    with pytest.raises(PowertrainError, match=f"strategy {strategy} prices no cost axis"):
        make_strategy(strategy, price_window=window)
