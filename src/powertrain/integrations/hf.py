"""Hugging Face ``transformers.Trainer``: record every evaluation and stop at the target.

    with powertrain.track(study="mine", setup={"lr": lr}, seed=0, target=0.9) as run:
        trainer = Trainer(model, args, ..., compute_metrics=accuracy,
                          callbacks=[PowertrainCallback(run, metric="eval_accuracy")])
        trainer.train()

Evaluations run by the Trainer during ``train()`` are recorded (``eval_strategy="epoch"`` or
``"steps"``); a ``trainer.evaluate()`` after training is not. A training that ends without reaching
the target leaves the run censored.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from powertrain.integrations import MetricNames, check_run, read_accuracy, read_loss
from powertrain.loggers.base import energy_metrics


class PowertrainCallback(TrainerCallback):
    """``metric``: the key of the accuracy in the evaluation's metrics (``eval_`` + the name your
    ``compute_metrics`` returns), or one key per task; ``loss``: a loss key whose NaN/inf ends the run
    as diverged (``"eval_loss"``, say)."""

    def __init__(
        self, run: Any, metric: MetricNames = "eval_accuracy", loss: str | None = None
    ) -> None:
        self.run = check_run(run, "PowertrainCallback")
        self.metric, self.loss = metric, loss
        self.training = False

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control, **kw) -> None:
        self.training = True

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        if not self.training:  # every rank of a job evaluates: rank 0 records, all get its decision
            return
        metrics = metrics or {}
        stop = self.run.evaluate(
            read_accuracy(metrics, self.metric, "Trainer"),
            step=state.global_step,
            epoch=state.epoch,  # None before the first step: counted as evaluations
            train_loss=read_loss(metrics, self.loss),
        )
        if stop:
            control.should_training_stop = True

    def on_log(self, args, state, control, logs: dict | None = None, **kw: Any) -> None:
        """The energy so far joins the logs (``report_to``'s callbacks after this one get it:
        ``energy_first(trainer)`` puts this callback before them)."""
        if logs is not None and self.training and self.run.outcome is None and not self.run.skipped:
            logs.update(energy_metrics(self.run.monitor.read("run").energy_j, self.run.estimated))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control, **kw) -> None:
        self.training = False
        self.run.set_end_reason(
            f"the Trainer ended after {state.global_step} steps (epoch {state.epoch}) "
            "without reaching the target"
        )


def energy_first(trainer: Any) -> Any:
    """Move powertrain's callback to the front of ``trainer``'s callbacks, so that the ``report_to``
    integrations (added by the Trainer before the callbacks it is given) log ``energy_j`` too."""
    callbacks = trainer.callback_handler.callbacks
    ours = [c for c in callbacks if isinstance(c, PowertrainCallback)]
    trainer.callback_handler.callbacks = ours + [c for c in callbacks if c not in ours]
    return trainer
