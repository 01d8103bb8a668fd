"""A user's script training with a framework on 2 CPU processes (gloo), a powertrain callback in it:
``--framework lightning`` (Lightning starts the second process itself, strategy ``--strategy``) or
``--framework hf`` (run under torchrun: the Trainer joins the job). Each rank writes what it saw to
``--out/rank-N.json``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import lightning.pytorch as L
import torch
from torch import nn
from torch.nn import functional as F

import powertrain
from tests.integration.digits_task import digits, mlp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=("lightning", "hf"), required=True)
    parser.add_argument("--strategy", default="ddp")
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--target", type=float, default=0.8)
    args = parser.parse_args()
    seen: dict = {}
    with powertrain.track(
        args.framework, setup={"lr": 0.05}, seed=0, target=args.target, db=args.db, device="cpu"
    ) as run:
        train = lightning if args.framework == "lightning" else hf
        seen = train(run, args)
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
    seen.update(outcome=run.outcome and run.outcome.status.value, points=len(run.points))
    Path(args.out, f"rank-{rank}.json").write_text(json.dumps(seen))


def lightning(run, args) -> dict:
    from torch.utils.data import DataLoader, TensorDataset

    from powertrain.integrations.lightning import PowertrainCallback

    xt, yt, xv, yv = digits()
    trainer = L.Trainer(
        max_epochs=8,
        strategy=args.strategy,
        devices=2,
        accelerator="cpu",
        callbacks=[PowertrainCallback(run, metric="val_acc")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(
        Classifier(),
        DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True),
        DataLoader(TensorDataset(xv, yv), batch_size=256),
    )
    return {"epochs": trainer.current_epoch, "should_stop": trainer.should_stop}


class Classifier(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def training_step(self, batch, _):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        accuracy = (self.net(x).argmax(1) == y).float().mean()
        self.log("val_acc", accuracy, sync_dist=True)  # the same figure on every rank

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


class HfClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x, labels=None):
        logits = self.net(x)
        return {"loss": F.cross_entropy(logits, labels), "logits": logits}


def hf(run, args) -> dict:
    from transformers import Trainer, TrainingArguments

    from powertrain.integrations.hf import PowertrainCallback

    xt, yt, xv, yv = digits()
    rows = lambda x, y: [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]  # noqa: E731
    training = TrainingArguments(
        output_dir=str(Path(args.out, "hf")),
        num_train_epochs=8,
        per_device_train_batch_size=32,
        learning_rate=5e-3,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        ddp_backend="gloo",
        seed=0,
    )
    trainer = Trainer(
        model=HfClassifier(),
        args=training,
        train_dataset=rows(xt, yt),
        eval_dataset=rows(xv, yv),
        compute_metrics=lambda p: {
            "accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())
        },
        callbacks=[PowertrainCallback(run, metric="eval_accuracy")],
    )
    trainer.train()
    return {"epochs": trainer.state.epoch}


if __name__ == "__main__":
    main()
