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


def with_search(search, grid=None):
    return parse_study({**BASE, "grid": grid or BASE["grid"], "search": search})


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


PRICED = {**BASE["grid"], "batch_size": [16, 64]}  # a grid with an axis to price


@pytest.mark.parametrize(
    ("cost_axes", "message"),
    [
        (3, "search.cost_axes: a list of axis names"),  # was a TypeError's traceback
        (["batch_size", "batch_size"], "search.cost_axes: names batch_size twice"),
        ("batch_size,batch_size", "search.cost_axes: names batch_size twice"),
        (["batch_sise"], "search.cost_axes: batch_sise is not an axis of the grid"),  # was ignored
        ("nope", "the grid's axes are learning_rate, batch_size"),
    ],
)
def test_bad_cost_axes_are_refused_before_anything_trains(cost_axes, message):
    with pytest.raises(ConfigError, match=message):
        with_search({"strategy": "auto", "cost_axes": cost_axes}, PRICED)


def test_cost_axes_as_text_or_a_list_are_the_same_names():
    listed = with_search({"cost_axes": ["batch_size"]}, PRICED).search.settings
    assert listed == with_search({"cost_axes": " batch_size"}, PRICED).search.settings


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
        ({"settings": [1]}, "search.settings: expected a mapping"),  # was a TypeError's traceback
        # the same setting twice: one of the two values was silently dropped
        ({"strategy": "bound", "beta": 2, "settings": {"beta": 3}}, "search.settings.beta: given"),
        # a setting named by a number (YAML's 1: 2): a TypeError's traceback as the search began
        ({"strategy": "auto", 1: 2}, "search.1: a strategy setting is named by text"),
        ({"strategy": "auto", "settings": {None: 2}}, "search.None: a strategy setting is named"),
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
            {"strategy": strategy, "cost_axes": ["batch_size"], "price_window": 0.2}, PRICED
        )
        check_supported(study, study.search)
    study = with_search({"strategy": "auto", "price_window": 2})
    with pytest.raises(PowertrainError, match="price_window"):
        check_supported(study, study.search)


def test_a_setting_of_no_strategy_is_refused_before_the_grid_runs():
    # search: {beta: 2} (no strategy: the grid) ran the whole grid, its beta silently ignored
    from powertrain.errors import PowertrainError
    from powertrain.search.run import check_supported

    study = with_search({"beta": 2})
    with pytest.raises(PowertrainError, match="strategy grid has no setting beta"):
        check_supported(study, study.search)
