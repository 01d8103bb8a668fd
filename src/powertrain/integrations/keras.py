"""Keras 3 (any back-end): record each epoch's validation and stop at the target.

    with powertrain.track(study="mine", setup={"lr": lr}, seed=0, target=0.9) as run:
        model.fit(x, y, validation_data=(xv, yv), epochs=10,
                  callbacks=[PowertrainCallback(run, metric="val_accuracy")])

Keras computes ``val_*`` metrics at the end of an epoch when ``fit`` has validation data; an epoch
without them (``validation_freq=2``) is passed over, and a fit that validated in none of its epochs
goes on and ends the run censored, saying so. A fit that ends without reaching the target leaves the
run censored; a second ``fit`` in the same block goes on counting from the first.
"""

from __future__ import annotations

import logging
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.integrations import (
    Counts,
    MetricNames,
    check_names,
    check_open,
    check_run,
    read_accuracy,
    read_loss,
)
from powertrain.loggers.base import energy_metrics

try:
    import keras
except ModuleNotFoundError as exc:  # Keras's default back-end is TensorFlow
    if exc.name == "keras":
        raise
    raise PowertrainError(
        f"keras could not load its back-end ({exc.name} is not installed): set KERAS_BACKEND=torch "
        "(or jax, tensorflow: one that is installed) before keras is imported"
    ) from None

log = logging.getLogger(__name__)


class PowertrainCallback(keras.callbacks.Callback):
    """``metric``: the validation accuracy in the epoch's logs, or one name per task; ``loss``: a
    logged loss whose NaN/inf ends the run as diverged (``"loss"``, the training loss)."""

    def __init__(self, run: Any, metric: MetricNames = "val_accuracy", loss: str | None = "loss"):
        super().__init__()
        self.run = check_run(run, "PowertrainCallback")
        self.metric, self.loss = check_names(self.run, metric, loss, "PowertrainCallback")
        self.unlogged: set[str] = set()  # loss names warned about as never logged
        self.counts = Counts(self.run, "Keras")
        self.epochs = self.validated = 0  # of this fit

    def on_train_begin(self, logs: dict | None = None) -> None:
        check_open(self.run, "PowertrainCallback")
        self.epochs = self.validated = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.epochs += 1
        if not any(str(n).startswith("val_") for n in logs):
            return  # no validation this epoch (validation_freq, or no validation data)
        steps = (self.params or {}).get("steps")
        steps = steps if isinstance(steps, int) else None
        if not self.validated:  # Keras's count (from initial_epoch) where this fit's points begin
            self.counts.begin(steps * epoch if steps else 0, float(epoch))
        self.validated += 1
        stop = self.run.evaluate(
            read_accuracy(logs, self.metric, "Keras"),
            step=self.counts.step(steps * (epoch + 1) if steps else None),
            epoch=self.counts.epoch(epoch + 1),
            train_loss=read_loss(logs, self.loss, "Keras", self.unlogged),
        )
        if self.run.points:  # History and the callbacks after this one get the energy
            logs.update(energy_metrics(self.run.points[-1].energy_j, self.run.estimated))
        if stop:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.epochs and not self.validated:
            why = (
                f"Keras's fit ended after {self.epochs} epochs with no validation (no val_ "
                "metric in any epoch's logs): pass validation_data=(x, y) or validation_split= "
                "to fit, so that each epoch has the validation accuracy the target is read from"
            )
            log.warning("powertrain: %s", why)
            self.run.set_end_reason(why)
            return
        self.run.set_end_reason(
            f"Keras's fit ended after {self.epochs} epochs without reaching the target"
        )
