"""A user's script training with Lightning on 2 CPU processes (gloo), a powertrain callback in it:
Lightning starts the processes itself (``--strategy ddp``: the script again per rank; ``ddp_spawn``:
spawned processes that get the callback pickled). The model is the one-process test's
(``test_track_lightning``). Each process that reaches the end writes what it saw to
``--out/rank-N.json`` (under ddp_spawn only the process that called ``fit`` does). The Hugging Face
Trainer's job is a scenario of ``ddp_track.py`` (under torchrun and ``accelerate launch``)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import powertrain
from tests.integration.digits_task import digits
from tests.integration.test_track_lightning import Classifier as LightningClassifier


class Classifier(LightningClassifier):
    def validation_step(self, batch, _):
        x, y = batch
        accuracy = (self.net(x).argmax(1) == y).float().mean()
        self.log("val_acc", accuracy, sync_dist=True)  # the same figure on every rank


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=("lightning",), default="lightning")
    parser.add_argument("--strategy", default="ddp")
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--target", type=float, default=0.8)
    args = parser.parse_args()
    with powertrain.track(
        args.framework, setup={"lr": 0.05}, seed=0, target=args.target, db=args.db, device="cpu"
    ) as run:
        seen = lightning(run, args)
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
    seen.update(outcome=run.outcome and run.outcome.status.value, points=len(run.points))
    Path(args.out, f"rank-{rank}.json").write_text(json.dumps(seen))


def lightning(run, args) -> dict:
    import lightning.pytorch as L
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
        Classifier(0.05),
        DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True),
        DataLoader(TensorDataset(xv, yv), batch_size=256),
    )
    return {"epochs": trainer.current_epoch, "should_stop": trainer.should_stop}


if __name__ == "__main__":
    main()
