"""``powertrain run --strategy X`` over a study whose ``search:`` names another strategy: the file's
strategy settings are dropped, but its cost axes and price window describe the study's grid and how
it is priced, not that strategy, and stay (as ``simulate`` reads them whatever the strategy)."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.search.run import check_supported, search_config
from tests.unit.test_search_config import PRICED, with_search


@pytest.mark.parametrize("strategy", ["halving", "grid"])
def test_another_strategy_keeps_the_studys_cost_axes_and_price_window(strategy, caplog):
    study = with_search(
        {"strategy": "auto", "beta": 2.0, "cost_axes": ["batch_size"], "price_window": 0.2},
        PRICED,
    )
    config = search_config(study, strategy)
    assert config.strategy == strategy
    assert config.settings == {"cost_axes": "batch_size", "price_window": 0.2}  # beta: auto's own
    check_supported(study, config)
    # and says so: beta was dropped without a word before
    assert f"search settings beta=2.0 are for auto; {strategy} runs with its own" in caplog.text


def test_the_studys_own_strategy_drops_nothing_and_says_nothing(caplog):
    study = with_search({"strategy": "auto", "beta": 2.0}, PRICED)
    assert search_config(study, "auto").settings == {"beta": 2.0}
    assert search_config(study, None).settings == {"beta": 2.0}
    assert "search settings" not in caplog.text


def test_optuna_in_place_of_a_priced_strategy_drops_what_it_cannot_take():
    study = with_search(
        {"strategy": "auto", "cost_axes": ["batch_size"], "price_window": 0.2}, PRICED
    )
    config = search_config(study, "optuna")
    assert config.settings == {}  # optuna samples a cost axis as any other
    check_supported(study, config)
    with pytest.raises(PowertrainError, match="price_window"):  # and says so when asked directly
        check_supported(
            study, search_config(with_search({"strategy": "optuna", "price_window": 1}))
        )
