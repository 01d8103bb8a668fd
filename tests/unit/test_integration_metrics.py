"""The framework callbacks' one message for an accuracy metric the framework did not log: the names
it did log, and the one the user most likely meant."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.integrations import read_accuracy


@pytest.mark.parametrize(
    ("named", "logged", "meant"),
    [
        ("val_accuracy", ["acc", "loss", "val_acc", "val_loss"], "val_acc"),  # metrics=["acc"]
        (
            "val_accuracy",
            ["loss", "val_sparse_categorical_accuracy"],
            "val_sparse_categorical_accuracy",
        ),
        ("val_acc", ["train_loss", "val/acc"], "val/acc"),  # Lightning, logged with a slash
    ],
)
def test_a_metric_logged_under_another_name_is_suggested(named, logged, meant):
    with pytest.raises(PowertrainError, match=f"did you mean '{meant}'"):
        read_accuracy(dict.fromkeys(logged, 0.5), named, "Keras")


def test_nothing_is_suggested_where_nothing_is_close():
    with pytest.raises(PowertrainError) as error:
        read_accuracy({"loss": 0.3}, "val_accuracy", "Keras")
    assert "did you mean" not in str(error.value) and "(loss)" in str(error.value)


def test_a_percentage_is_named_as_the_framework_logged_it():
    with pytest.raises(PowertrainError) as error:
        read_accuracy({"eval_accuracy": 93.0}, "eval_accuracy", "Trainer")
    said = str(error.value)
    assert said.startswith("Trainer: the metric 'eval_accuracy' is 93")
    assert "a percentage" in said and "fraction" in said
    assert read_accuracy({"eval_accuracy": 0.93}, "eval_accuracy", "Trainer") == 0.93
