"""The Keras 3 callback records each epoch's validation of a real `fit` (torch back-end here), stops it
at the target and keeps censored runs."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: TensorFlow is not installed here

import keras  # noqa: E402
import pytest  # noqa: E402

from powertrain import PowertrainError, track  # noqa: E402
from powertrain.integrations.keras import PowertrainCallback  # noqa: E402
from powertrain.records import CENSORED, FAILED, REACHED  # noqa: E402
from tests.integration.digits_task import digits  # noqa: E402


def fit(run, epochs: int, metric: str = "val_accuracy", model=None, **options):
    """``options``: ``fit``'s (``validation_data=None``: none; ``validation_freq``)."""
    xt, yt, xv, yv = (t.numpy() for t in digits())
    model = model or compiled()
    options = {"validation_data": (xv, yv), **options}
    return model.fit(
        xt,
        yt,
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[PowertrainCallback(run, metric=metric)],
        **options,
    )


def compiled() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_keras_stops_at_the_target_and_keeps_censored_runs(tmp_path):
    db = tmp_path / "runs.db"
    with track(study="keras", setup={"lr": 0.05}, seed=0, target=0.9, db=db, device="cpu") as run:
        history = fit(run, epochs=20)
    assert run.outcome.status == REACHED and run.outcome.energy_to_target_j > 0
    epochs = len(history.history["val_accuracy"])
    assert epochs < 20 and len(run.points) == epochs
    assert [p.step for p in run.points] == [40 * (i + 1) for i in range(epochs)]
    assert run.points[-1].val_accuracy == pytest.approx(history.history["val_accuracy"][-1])
    assert run.points[-1].train_loss == pytest.approx(history.history["loss"][-1])

    with track(study="keras-1", seed=0, target=1.0, db=db, device="cpu") as run:
        fit(run, epochs=1)
    assert run.outcome.status == CENSORED and "fit ended after 1 epochs" in run.outcome.stop_reason


def test_a_metric_keras_never_logged_fails_the_run_with_its_name(tmp_path):
    with (
        pytest.raises(PowertrainError, match="'val_acc' is not among.*val_accuracy"),
        track(study="keras", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run,
    ):
        fit(run, epochs=1, metric="val_acc")
    assert run.outcome.status == FAILED


def test_without_a_usable_back_end_the_message_says_to_set_keras_backend():
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    code = "import powertrain.integrations.keras"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "set KERAS_BACKEND=torch" in out.stderr


def test_epochs_that_did_not_validate_are_passed_over(tmp_path):
    with track(study="k", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, epochs=4, validation_freq=2)  # val_* in the logs of epochs 2 and 4 only
    assert run.outcome.status == CENSORED
    assert [(p.step, p.epoch) for p in run.points] == [(80, 2.0), (160, 4.0)]


def test_a_fit_without_validation_goes_on_and_the_run_says_why_it_has_no_points(tmp_path, caplog):
    with track(study="k", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run:
        history = fit(run, epochs=2, validation_data=None)
    assert len(history.history["loss"]) == 2  # the training was not ended
    assert run.outcome.status == CENSORED and run.points == []
    assert "no validation" in run.outcome.stop_reason
    assert "validation_data" in run.outcome.stop_reason
    assert "validation_data" in caplog.text


def test_a_second_fit_in_the_same_block_goes_on_from_the_first(tmp_path):
    model = compiled()
    with track(study="k", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, epochs=2, model=model)
        fit(run, epochs=2, model=model)  # Keras counts its epochs from 0 again
    assert run.outcome.status == CENSORED
    assert [(p.step, p.epoch) for p in run.points] == [(40, 1), (80, 2), (120, 3), (160, 4)]


def test_a_fit_resumed_past_its_first_epoch_warns_that_the_run_counts_from_there(tmp_path, caplog):
    with track(study="k", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, epochs=2, initial_epoch=1)  # a checkpoint's model, its first epoch done before
    assert [p.epoch for p in run.points] == [2]
    assert "resumes at epoch 1" in caplog.text and "before it is not" in caplog.text


def test_the_training_accuracy_named_as_the_metric_is_refused_not_read_as_the_validations(
    tmp_path,
):
    """metric="accuracy" (Keras's name for the training accuracy) was recorded as the validation
    accuracy, at every epoch, validated or not: a run could reach its target on the training set."""
    with (
        pytest.raises(PowertrainError, match="'accuracy' is the training one.*'val_accuracy'"),
        track(study="keras", seed=0, target=0.99, db=tmp_path / "r.db", device="cpu") as run,
    ):
        fit(run, epochs=2, metric="accuracy", validation_freq=2)
    assert run.outcome.status == FAILED and run.points == []  # epoch 1 did not validate
