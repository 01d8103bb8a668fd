"""The framework callbacks' one message for an accuracy metric the framework did not log: the names
it did log, and the one the user most likely meant; and their arguments, checked when they are made."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from powertrain.errors import PowertrainError
from powertrain.integrations import check_names, check_open, check_run, read_accuracy, read_loss
from tests.unit import test_track

store, meters, tracked = test_track.store, test_track.meters, test_track.tracked  # fixtures


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


# -- the callbacks' arguments, checked before anything trains --------------------------------------
@pytest.mark.parametrize(
    ("metric", "said"),
    [
        (5, "metric= must be the name of the logged validation accuracy"),
        (["val_acc"], "metric= must be the name"),  # a list, not a mapping of task to name
        ("", "metric= must be the name"),
        (
            "val_loss",
            "names a loss",
        ),  # read as an accuracy: a falling loss looks like a worse model
        (
            {"other": "val_acc"},
            r"names the tasks \['other'\], but the run's targets name \['main'\]",
        ),
        ({"main": "eval_loss"}, "names a loss"),
    ],
)
def test_a_callbacks_metric_that_cannot_name_the_accuracy_is_refused_when_made(
    store, meters, metric, said
):
    with tracked(store, meters) as run:
        with pytest.raises(PowertrainError, match=said):
            check_names(run, metric, None, "PowertrainCallback")
        assert check_names(run, {"main": "val_acc"}, "train_loss", "x") == (
            {"main": "val_acc"},
            "train_loss",
        )
        with pytest.raises(PowertrainError, match="loss= must be a logged metric's name"):
            check_names(run, "val_acc", 5, "PowertrainCallback")


def test_a_callback_for_a_run_whose_block_ended_is_refused_before_a_fit_trains(store, meters):
    with tracked(store, meters) as run:
        assert check_run(run, "PowertrainCallback") is run
    with pytest.raises(PowertrainError, match=r"run 1 has already ended \(censored\).*inside the"):
        check_run(run, "PowertrainCallback")
    with pytest.raises(PowertrainError, match="already ended"):
        check_open(run, "PowertrainCallback")  # a callback made in the block, reused after it


@pytest.mark.parametrize("value", [np.array([0.5, 0.7]), torch.tensor([0.5, 0.7])])
def test_a_metric_of_several_numbers_is_one_clear_error(value):
    with pytest.raises(
        PowertrainError, match=r"'eval_accuracy' is not one number \(shape \(2,\)\)"
    ):
        read_accuracy({"eval_accuracy": value}, "eval_accuracy", "Trainer")
    assert read_accuracy({"eval_accuracy": value[:1].mean()}, "eval_accuracy", "Trainer") == 0.5


@pytest.mark.parametrize("value", [None, "0.9", float("nan"), 250.0, -0.1, True])
def test_a_metric_that_is_no_accuracy_is_named_as_the_framework_logged_it(value):
    with pytest.raises(PowertrainError) as error:
        read_accuracy({"val_acc": value}, "val_acc", "Lightning")
    assert str(error.value).startswith(f"Lightning: the metric 'val_acc' is {value!r}, not an")


@pytest.mark.parametrize(
    ("named", "logged", "meant"),
    [
        ("accuracy", ["accuracy", "loss", "val_accuracy", "val_loss"], "val_accuracy"),  # Keras
        ("train_acc", ["train_acc", "val_acc"], "val_acc"),  # Lightning
        ("train/acc", ["train/acc", "val/acc"], "val/acc"),
    ],
)
def test_a_training_accuracy_named_as_the_metric_is_refused(named, logged, meant):
    with pytest.raises(PowertrainError, match=f"'{named}' is the training one.*metric='{meant}'"):
        read_accuracy(dict.fromkeys(logged, 0.5), named, "Keras")
    assert read_accuracy(dict.fromkeys(logged, 0.5), meant, "Keras") == 0.5


def test_a_loss_name_never_logged_is_warned_about_once(caplog):
    """loss='loss' given to the Trainer, whose evaluations log eval_loss: a NaN loss never ended the
    run as diverged, and nothing said the name matched nothing."""
    unlogged: set[str] = set()
    metrics = {"eval_accuracy": 0.5, "eval_loss": 0.7}
    with caplog.at_level("WARNING", logger="powertrain.integrations"):
        assert read_loss(metrics, "loss", "Trainer", unlogged) is None
        assert read_loss(metrics, "loss", "Trainer", unlogged) is None
    [said] = [r.getMessage() for r in caplog.records]
    assert "Trainer: the loss 'loss' is not among the evaluation's metrics" in said
    assert "(eval_accuracy, eval_loss)" in said and "diverged" in said
    assert read_loss(metrics, "eval_loss", "Trainer", unlogged) == 0.7
    assert read_loss(metrics, None, "Trainer", unlogged) is None


def test_one_metric_name_for_a_run_of_several_targets_is_refused_when_made(store, meters):
    with tracked(store, meters, target={"digit": 0.9, "parity": 0.95}) as run:
        with pytest.raises(PowertrainError, match=r"several targets \(digit, parity\).*mapping"):
            check_names(run, "val_acc", None, "PowertrainCallback")
        both = {"digit": "val_digit", "parity": "val_parity"}
        assert check_names(run, both, None, "PowertrainCallback") == (both, None)
