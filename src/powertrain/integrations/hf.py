"""Hugging Face ``transformers.Trainer``: record every evaluation and stop at the target.

    with powertrain.track(study="mine", setup={"lr": lr}, seed=0, target=0.9) as run:
        trainer = Trainer(model, args, ..., compute_metrics=accuracy,
                          callbacks=[PowertrainCallback(run, metric="eval_accuracy")])
        trainer.train()

Evaluations run by the Trainer during ``train()`` are recorded (``eval_strategy="epoch"`` or
``"steps"``); a ``trainer.evaluate()`` after training is not. With several eval datasets (a dict:
one ``on_evaluate`` per dataset, ``eval_<name>_`` keys) their metrics at one step are one evaluation.
A training that ends without reaching the target leaves the run censored (one that never evaluated
says so); a second ``train()`` in the same block goes on counting from the first.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

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

log = logging.getLogger(__name__)
NO_EVALUATION = (
    "set eval_strategy='epoch' (or 'steps', with eval_steps) and an eval_dataset, so that the "
    "Trainer evaluates the accuracy the target is read from"
)


class PowertrainCallback(TrainerCallback):
    """``metric``: the key of the accuracy in the evaluation's metrics (``eval_`` + the name your
    ``compute_metrics`` returns), or one key per task; ``loss``: a loss key whose NaN/inf ends the run
    as diverged (``"eval_loss"``, say)."""

    def __init__(
        self, run: Any, metric: MetricNames = "eval_accuracy", loss: str | None = None
    ) -> None:
        self.run = check_run(run, "PowertrainCallback")
        self.metric, self.loss = check_names(self.run, metric, loss, "PowertrainCallback")
        self.unlogged: set[str] = set()  # loss names warned about as never logged
        self.names = [self.metric] if isinstance(self.metric, str) else list(self.metric.values())
        self.training = False
        self.counts = Counts(self.run, "the Trainer")
        self.pending: dict[str, Any] = {}  # this step's evaluation so far (one dict per dataset)
        self.pending_step: int | None = None
        self.evaluated, self.warned = 0, False  # in this train()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control, **kw) -> None:
        check_open(self.run, "PowertrainCallback")
        self.training, self.evaluated, self.warned = True, 0, False
        self.pending, self.pending_step = {}, None
        self.counts.begin(state.global_step, float(state.epoch or 0.0))
        if str(getattr(args.eval_strategy, "value", args.eval_strategy)) == "no":
            self.warned = True
            log.warning(
                "powertrain: the Trainer will not evaluate (eval_strategy='no'): %s", NO_EVALUATION
            )

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
        if self.pending_step != state.global_step:
            self._check_pending()
            self.pending_step = state.global_step
        self.pending.update(metrics or {})
        if not all(name in self.pending for name in self.names):
            return  # another eval dataset's call may bring the rest: checked after the round
        metrics, self.pending = self.pending, {}
        self.evaluated += 1
        stop = self.run.evaluate(
            read_accuracy(metrics, self.metric, "Trainer"),
            step=self.counts.step(state.global_step),
            epoch=self.counts.epoch(state.epoch),  # None before the first step: evaluations
            train_loss=read_loss(metrics, self.loss, "Trainer", self.unlogged),
        )
        if stop:
            control.should_training_stop = True

    def _check_pending(self) -> None:
        """After an evaluation round: a metric none of its calls brought is the user's to name."""
        metrics, self.pending = self.pending, {}
        if metrics:
            read_accuracy(metrics, self.metric, "Trainer")  # the error naming what was there

    def on_step_begin(self, args, state, control, **kw: Any) -> None:
        self._check_pending()

    def on_epoch_begin(self, args, state, control, **kw: Any) -> None:
        self._check_pending()

    def on_log(self, args, state, control, logs: dict | None = None, **kw: Any) -> None:
        """The energy so far joins the logs (``report_to``'s callbacks after this one get it:
        ``energy_first(trainer)`` puts this callback before them)."""
        if logs is not None and self.training and self.run.outcome is None and not self.run.skipped:
            logs.update(energy_metrics(self.run.monitor.read("run").energy_j, self.run.estimated))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control, **kw) -> None:
        self.training = False
        self._check_pending()
        ended = f"the Trainer ended after {state.global_step} steps (epoch {state.epoch})"
        if 0 < state.global_step < (state.max_steps or 0) and self.evaluated:
            ended = (  # EarlyStoppingCallback, or another that set should_training_stop
                f"the Trainer was stopped early by a callback after {state.global_step} of "
                f"{state.max_steps} steps (epoch {state.epoch})"
            )
        if self.evaluated:
            self.run.set_end_reason(f"{ended} without reaching the target")
            return
        if not self.warned:
            log.warning("powertrain: the Trainer never evaluated: %s", NO_EVALUATION)
        self.run.set_end_reason(f"{ended} with no evaluation: {NO_EVALUATION}")


def energy_first(trainer: Any) -> Any:
    """Move powertrain's callback to the front of ``trainer``'s callbacks, so that the ``report_to``
    integrations (added by the Trainer before the callbacks it is given) log ``energy_j`` too."""
    callbacks = getattr(getattr(trainer, "callback_handler", None), "callbacks", None)
    if callbacks is None:
        raise PowertrainError(
            f"energy_first takes a transformers Trainer, got {type(trainer).__name__}"
        )
    ours = [c for c in callbacks if isinstance(c, PowertrainCallback)]
    if not ours:  # else report_to's integrations would silently log no energy
        raise PowertrainError(
            "energy_first: the Trainer has no PowertrainCallback to put first: pass "
            "callbacks=[PowertrainCallback(run)] to the Trainer (or trainer.add_callback(...))"
        )
    trainer.callback_handler.callbacks = ours + [c for c in callbacks if c not in ours]
    return trainer
