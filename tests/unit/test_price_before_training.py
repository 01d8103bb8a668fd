"""A cost axis priced on a trace whose runs are evaluated before training (epoch 0, 0 J), as many
loops do: the pricing window is the way to the first evaluation that follows training, not that
one, which costs nothing under every value and would make the pick's value a toss."""

from __future__ import annotations

import pytest

from powertrain.search.importer import import_csv
from powertrain.search.simulate import load_curves, simulate
from powertrain.store.sqlite import SqliteStore

POWER = {150: 1.0, 200: 0.8, 250: 0.7, 300: 0.9}  # J per epoch, relative: 250 W is cheapest


def _trace(path, from_epoch):
    rows = ["seed,epoch,energy_j,val_accuracy,lr,power_limit_w"]
    for lr, speed in ((0.1, 0.2), (0.01, 0.12)):
        for watts, factor in POWER.items():
            for seed in (1, 2, 3, 4):
                for epoch in range(from_epoch, 9):
                    accuracy = min(0.95, 0.1 + speed * epoch * (1 + 0.02 * seed))
                    rows.append(
                        f"{seed},{epoch},{1000 * factor * epoch:.1f},{accuracy:.3f},{lr},{watts}"
                    )
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("window", [None, 1])
def test_an_evaluation_before_training_does_not_price_every_value_at_nothing(tmp_path, window):
    _trace(tmp_path / "e0.csv", from_epoch=0)
    import_csv(tmp_path / "e0.csv", "e0", 0.8, tmp_path / "r.db", ["power_limit_w"])
    with SqliteStore(tmp_path / "r.db") as store:
        curves = load_curves(store, "e0")
    settings = {} if window is None else {"price_window": window}
    sim = simulate(curves, strategy="auto", repeats=20, **settings)
    assert sim.best == "lr=0.1 power_limit_w=250"
    assert sim.summary()["picks"] == {sim.best: 20}  # the cheapest limit, in every order
