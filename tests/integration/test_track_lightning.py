"""The Lightning callback records every validation of a real fit, stops it at the target, and keeps
the runs that end without reaching it (estimate meters, digits, a small MLP)."""

from __future__ import annotations

import lightning.pytorch as L
import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from powertrain import PowertrainError, open_store, track
from powertrain.integrations.lightning import PowertrainCallback
from powertrain.records import CENSORED, FAILED, REACHED
from tests.integration.digits_task import digits, mlp


class Classifier(L.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.net, self.lr = mlp(), lr

    def training_step(self, batch, _):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def fit(run, max_epochs: int, metric: str = "val_acc", logger=False, **options) -> L.Trainer:
    """``options``: the Trainer's (``accumulate_grad_batches``, ``limit_val_batches``), and fit's
    ``ckpt_path``."""
    xt, yt, xv, yv = digits()
    ckpt_path = options.pop("ckpt_path", None)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        callbacks=[PowertrainCallback(run, metric=metric, loss="train_loss")],
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=2,
        accelerator="cpu",
        **options,
    )
    trainer.fit(
        Classifier(0.05),
        DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True),
        DataLoader(TensorDataset(xv, yv), batch_size=256),
        ckpt_path=ckpt_path,
    )
    return trainer


def test_lightning_stops_at_the_target_and_keeps_censored_runs(tmp_path):
    db = tmp_path / "runs.db"
    with track(study="pl", setup={"lr": 0.05}, seed=0, target=0.9, db=db, device="cpu") as run:
        trainer = fit(run, max_epochs=20)
    assert run.outcome.status == REACHED
    assert trainer.current_epoch < 19  # stopped at the target, not at max_epochs
    # every validation but the sanity check's is a point, each with the global step it came at
    assert [p.step for p in run.points] == [40 * (i + 1) for i in range(len(run.points))]
    assert run.points[-1].val_accuracy >= 0.9 > run.points[0].val_accuracy or len(run.points) == 1

    with track(study="pl-1", setup={"lr": 0.05}, seed=0, target=1.0, db=db, device="cpu") as run:
        fit(run, max_epochs=1)
    assert run.outcome.status == CENSORED
    assert "fit ended after 1 epochs" in run.outcome.stop_reason
    with open_store(db) as store:
        assert [r.status for r in store.runs()] == [REACHED, CENSORED]
        assert store.runs("pl")[0].outcome.energy_to_target_j > 0


def test_a_metric_lightning_never_logged_fails_the_run_with_its_name(tmp_path):
    with (
        pytest.raises(PowertrainError, match="'val_accuracy' is not among.*val_acc"),
        track(study="pl", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run,
    ):
        fit(run, max_epochs=1, metric="val_accuracy")
    assert run.outcome.status == FAILED


def test_gradient_accumulation_counts_epochs_by_batches_not_optimizer_steps(tmp_path):
    with track(study="pl", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, max_epochs=2, accumulate_grad_batches=4)  # 40 batches an epoch, 10 steps
    assert [(p.step, p.epoch) for p in run.points] == [(10, 1.0), (20, 2.0)]


def test_a_fit_without_validation_goes_on_and_the_run_says_why_it_has_no_points(tmp_path, caplog):
    with track(study="pl", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run:
        trainer = fit(run, max_epochs=2, limit_val_batches=0)
    assert trainer.global_step == 80  # trained all the same
    assert run.outcome.status == CENSORED and run.points == []
    assert "no validation" in run.outcome.stop_reason and "no validation" in caplog.text


def test_a_second_fit_in_the_same_block_goes_on_from_the_first(tmp_path):
    with track(study="pl", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, max_epochs=1)
        fit(run, max_epochs=1)  # a new Trainer counts its steps from 0 again
    assert run.outcome.status == CENSORED
    assert [(p.step, p.epoch) for p in run.points] == [(40, 1.0), (80, 2.0)]


def test_fast_dev_run_warns_that_it_is_recorded_as_the_run(tmp_path, caplog):
    with track(study="pl", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, max_epochs=1, fast_dev_run=True)
    assert "fast_dev_run is recorded as run" in caplog.text and "another study name" in caplog.text


def test_a_fit_resumed_from_a_checkpoint_warns_that_the_run_counts_from_there(tmp_path, caplog):
    with track(study="pl-a", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        first = fit(run, max_epochs=1)
    first.save_checkpoint(tmp_path / "one.ckpt")
    assert "resumes at" not in caplog.text
    with track(study="pl-b", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        fit(run, max_epochs=2, ckpt_path=tmp_path / "one.ckpt")
    assert [p.step for p in run.points] == [80]  # the checkpoint's count goes on
    assert "resumes at epoch 1 (step 40)" in caplog.text and "before it is not" in caplog.text


def test_a_callback_kept_from_an_ended_block_is_refused_before_its_fit_trains(tmp_path):
    with track(study="pl", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        callback = PowertrainCallback(run)
    model = Classifier(0.05)
    trainer = L.Trainer(max_epochs=1, callbacks=[callback], logger=False, accelerator="cpu")
    xt, yt, xv, yv = digits()
    with pytest.raises(PowertrainError, match="run 1 has already ended.*inside the block"):
        trainer.fit(model, DataLoader(TensorDataset(xt, yt)), DataLoader(TensorDataset(xv, yv)))
    assert trainer.global_step == 0  # refused before the first step, not after an epoch
