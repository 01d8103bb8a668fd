"""The study's ``search:`` key: typed, checked before anything trains, off (None) unless given."""

from __future__ import annotations

import pytest

from powertrain.errors import ConfigError
from powertrain.study.config import parse_study

BASE = {
    "name": "s",
    "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.9},
    "grid": {"learning_rate": [0.1, 0.2]},
}


def with_search(search):
    return parse_study({**BASE, "search": search})


def test_no_search_key_means_no_search_and_no_predicted_stop():
    assert parse_study(BASE).search is None


def test_free_keys_are_the_strategys_settings_and_the_study_round_trips():
    study = with_search(
        {
            "strategy": "halving",
            "eta": 2,
            "rank": "predicted",
            "predict_stop": {"threshold": 0.1},
            "space": {"learning_rate": {"low": 0.001, "high": 0.3, "log": True}},
        }
    )
    s = study.search
    assert s.strategy == "halving" and s.settings == {"eta": 2, "rank": "predicted"}
    assert s.predict_stop.threshold == 0.1 and s.predict_stop.min_evals == 4  # the safe default
    assert s.space["learning_rate"].log and s.confirm_seeds == 3
    assert parse_study(study.to_dict()).search == s  # as the store keeps it


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"space": {"colour": {"low": 1, "high": 2}}}, "search.space.colour: not a training"),
        ({"space": {"learning_rate": {"low": 0.3, "high": 0.1}}}, "must be below high"),
        ({"space": {"learning_rate": {"low": 0, "high": 0.1, "log": True}}}, "log range"),
        ({"space": {"learning_rate": {"low": -1.0, "high": 0.1}}}, "learning_rate"),
        ({"predict_stop": {"threshold": 1.5}}, "search.predict_stop.threshold"),
        ({"predict_stop": {"min_evals": 0}}, "search.predict_stop.min_evals"),
        ({"sampler": "random"}, "search.sampler: must be one of tpe, nsga2"),
        ({"objectives": ["energy", "energy"]}, "search.objectives"),
        ({"objectives": ["speed"]}, "search.objectives"),
        ({"confirm_seeds": 0}, "search.confirm_seeds"),
        ({"beta": [1, 2]}, "search.beta: a strategy setting must be a number or text"),
        ("bound", "search: expected a mapping"),
    ],
)
def test_bad_search_settings_name_the_key(search, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        with_search(search)


def test_a_study_declaring_cost_axes_and_a_price_window_is_taken_by_every_strategy_that_prices():
    # search.cost_axes and price_window are the pricing's settings, not the strategy's own: a live
    # run once refused them ("strategy auto has no setting cost_axes") before anything trained
    from powertrain.errors import PowertrainError
    from powertrain.search.run import check_supported

    for strategy in ("auto", "halving", "zeus", "bound", "thompson"):
        study = with_search(
            {"strategy": strategy, "cost_axes": ["batch_size"], "price_window": 0.2}
        )
        check_supported(study, study.search)
    study = with_search({"strategy": "auto", "price_window": 2})
    with pytest.raises(PowertrainError, match="price_window"):
        check_supported(study, study.search)
