"""PyTorch Lightning: record every validation of ``Trainer.fit`` and stop at the target.

    with powertrain.track(study="mine", setup={"lr": lr}, seed=0, target=0.9) as run:
        trainer = L.Trainer(max_epochs=10, callbacks=[PowertrainCallback(run, metric="val_acc")])
        trainer.fit(model, train_loader, val_loader)

The sanity check's validation is skipped; a fit that ends without reaching the target leaves the run
censored, with the epochs and steps it took (one that never validated says so). A point's epoch
counts the batches trained (gradient accumulation takes several a step); a second ``fit`` in the
same block goes on counting from the first. Under ``strategy="ddp"`` every rank enters the same block:
rank 0 records the one run, every rank stops at rank 0's decision (``powertrain.tracking.job``).
Under ``strategy="ddp_spawn"`` the callback (and the run in it) is pickled into the spawned ranks: they
exchange as ranks do, spawned rank 0 records the points into the run, and each spawned rank ends its
share when its ``fit`` tears down; the process that called ``fit`` writes the outcome
(``powertrain.tracking.spawned``).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as L

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


class PowertrainCallback(L.Callback):
    """``metric``: the logged validation accuracy (``self.log("val_acc", ...)``), or one name per task;
    ``loss``: the logged training loss, when a NaN/inf loss should end the run as diverged."""

    def __init__(self, run: Any, metric: MetricNames = "val_acc", loss: str | None = None) -> None:
        super().__init__()
        self.run = check_run(run, "PowertrainCallback")
        self.metric, self.loss = check_names(self.run, metric, loss, "PowertrainCallback")
        self.unlogged: set[str] = set()  # loss names warned about as never logged
        self.counts = Counts(self.run, "Lightning")
        self.validated = 0  # in this fit

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        check_open(self.run, "PowertrainCallback")  # before the sanity check and any training

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.validated = 0  # a checkpoint's count is restored by now (ckpt_path=)
        self.counts.begin(trainer.global_step, float(trainer.current_epoch))
        if trainer.fast_dev_run:
            log.warning(
                "powertrain: fast_dev_run is recorded as run %s of study %r like any fit; a later "
                "track() of the same setup and seed is then refused as finished: debug outside "
                "the track() block, or under another study name",
                self.run.run_id,
                self.run.tracker.study,
            )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        metrics = trainer.callback_metrics
        self.validated += 1
        stop = self.run.evaluate(
            read_accuracy(metrics, self.metric, "Lightning"),
            step=self.counts.step(trainer.global_step),
            epoch=self.counts.epoch(_epochs(trainer)),
            train_loss=read_loss(metrics, self.loss, "Lightning", self.unlogged),
        )
        for logger in trainer.loggers if self.run.points else ():  # the user's loggers get it
            logger.log_metrics(
                energy_metrics(self.run.points[-1].energy_j, self.run.estimated),
                trainer.global_step,
            )
        if stop:
            trainer.should_stop = True

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception) -> None:
        # Under ddp_spawn Lightning calls neither this nor teardown in a spawned rank that raises: the
        # error reaches the parent (ProcessRaisedException), whose run then ends failed with it.
        self.error = exception

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if getattr(self.run, "spawned", False) and stage == "fit":
            self.run.close_under(getattr(self, "error", None))  # this spawned rank's end

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        ended = (
            f"Lightning's fit ended after {trainer.current_epoch} epochs "
            f"({trainer.global_step} steps)"
        )
        if self.validated or not trainer.current_epoch:
            self.run.set_end_reason(f"{ended} without reaching the target")
            return
        why = (
            f"{ended} with no validation: give fit val_dataloaders, a validation_step and "
            "limit_val_batches above 0, so that the accuracy the target is read from is logged"
        )
        log.warning("powertrain: %s", why)
        self.run.set_end_reason(why)


def _epochs(trainer: L.Trainer) -> float:
    """Epochs trained so far, by batches (not optimizer steps: gradient accumulation takes several
    batches a step); an epoch of unknown length counts whole."""
    batches = trainer.num_training_batches
    if not (isinstance(batches, int) and batches > 0):
        return float(trainer.current_epoch + 1)
    done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
    return trainer.current_epoch + done / batches
