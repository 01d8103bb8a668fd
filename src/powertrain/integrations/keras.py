"""Keras 3 (any back-end): record each epoch's validation and stop at the target.

    with powertrain.track(study="mine", setup={"lr": lr}, seed=0, target=0.9) as run:
        model.fit(x, y, validation_data=(xv, yv), epochs=10,
                  callbacks=[PowertrainCallback(run, metric="val_accuracy")])

Keras computes ``val_*`` metrics at the end of an epoch when ``fit`` has validation data; a fit that
ends without reaching the target leaves the run censored.
"""

from __future__ import annotations

from typing import Any

from powertrain.errors import PowertrainError
from powertrain.integrations import MetricNames, check_run, read_accuracy, read_loss
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


class PowertrainCallback(keras.callbacks.Callback):
    """``metric``: the validation accuracy in the epoch's logs, or one name per task; ``loss``: a
    logged loss whose NaN/inf ends the run as diverged (``"loss"``, the training loss)."""

    def __init__(self, run: Any, metric: MetricNames = "val_accuracy", loss: str | None = "loss"):
        super().__init__()
        self.run = check_run(run, "PowertrainCallback")
        self.metric, self.loss = metric, loss
        self.epochs = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.epochs = epoch + 1
        steps = (self.params or {}).get("steps")
        stop = self.run.evaluate(
            read_accuracy(logs, self.metric, "Keras"),
            step=steps * (epoch + 1) if isinstance(steps, int) else None,
            epoch=epoch + 1,
            train_loss=read_loss(logs, self.loss),
        )
        if self.run.points:  # History and the callbacks after this one get the energy
            logs.update(energy_metrics(self.run.points[-1].energy_j, self.run.estimated))
        if stop:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self.run.set_end_reason(
            f"Keras's fit ended after {self.epochs} epochs without reaching the target"
        )
