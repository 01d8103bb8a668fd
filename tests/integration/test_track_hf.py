"""The Hugging Face Trainer callback records every evaluation of a real `Trainer.train()`, stops it at
the target and keeps censored runs (a plain torch module, nothing downloaded, no reporting)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from transformers import Trainer, TrainingArguments

from powertrain import PowertrainError, track
from powertrain.integrations.hf import PowertrainCallback, energy_first
from powertrain.records import CENSORED, FAILED, REACHED
from tests.integration.digits_task import digits, mlp


class Classifier(nn.Module):
    """What the Trainer expects of a model: keyword inputs, a dict with the loss and the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, x, labels=None):
        logits = self.net(x)
        return {"loss": F.cross_entropy(logits, labels), "logits": logits}


def rows(x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    return [{"x": xi, "labels": yi} for xi, yi in zip(x, y, strict=True)]


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def train(
    run, out, epochs: float, metric="eval_accuracy", eval_dataset=None, resume=None, **options
) -> Trainer:
    """``options``: TrainingArguments to change (logging, ``report_to``); ``resume``: a checkpoint
    folder to resume from."""
    xt, yt, xv, yv = digits()
    args = {"logging_strategy": "no", "report_to": [], "eval_strategy": "epoch", **options}
    args.setdefault("save_strategy", "no")
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=epochs,
        per_device_train_batch_size=32,
        learning_rate=5e-3,
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        **args,
    )
    trainer = Trainer(
        model=Classifier(),
        args=args,
        train_dataset=rows(xt, yt),
        eval_dataset=rows(xv, yv) if eval_dataset is None else eval_dataset,
        compute_metrics=accuracy,
        callbacks=[PowertrainCallback(run, metric=metric, loss="eval_loss")],
    )
    # report_to's callbacks after powertrain's: they get energy_j
    energy_first(trainer).train(resume_from_checkpoint=resume)
    return trainer


def test_the_trainer_stops_at_the_target_and_keeps_censored_runs(tmp_path):
    db = tmp_path / "runs.db"
    with track(study="hf", setup={"lr": 5e-3}, seed=0, target=0.9, db=db, device="cpu") as run:
        trainer = train(run, tmp_path, epochs=20)
        trainer.evaluate()  # after training: not a point of the run
    assert run.outcome.status == REACHED and run.outcome.energy_to_target_j > 0
    assert trainer.state.epoch < 20  # stopped at the target
    assert len(run.points) == round(trainer.state.epoch)
    assert [p.step for p in run.points] == [40 * (i + 1) for i in range(len(run.points))]

    with track(study="hf-1", seed=0, target=1.0, db=db, device="cpu") as run:
        train(run, tmp_path, epochs=1)
    assert run.outcome.status == CENSORED and "the Trainer ended" in run.outcome.stop_reason


def test_a_key_the_trainer_never_reported_fails_the_run_with_its_name(tmp_path):
    with (
        pytest.raises(PowertrainError, match="'eval_acc' is not among.*eval_accuracy"),
        track(study="hf", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run,
    ):
        train(run, tmp_path, epochs=1, metric="eval_acc")
    assert run.outcome.status == FAILED


def test_several_eval_datasets_are_one_evaluation(tmp_path):
    """The Trainer calls on_evaluate once per eval dataset, each with its own eval_<name>_ keys."""
    _, _, xv, yv = digits()
    both = {"a": rows(xv, yv), "b": rows(xv[:100], yv[:100])}
    metrics = {"a": "eval_a_accuracy", "b": "eval_b_accuracy"}
    with track(study="hf", seed=0, target={"a": 1.0, "b": 1.0}, db=tmp_path / "r.db") as run:
        train(run, tmp_path, epochs=2, metric=metrics, eval_dataset=both)
    assert run.outcome.status == CENSORED
    assert [p.step for p in run.points] == [40, 80]
    assert all(set(p.task_accuracies) == {"a", "b"} for p in run.points)
    with track(study="hf-b", seed=0, target=1.0, db=tmp_path / "r.db") as run:
        train(run, tmp_path, epochs=1, metric="eval_b_accuracy", eval_dataset=both)
    assert len(run.points) == 1 and run.outcome.status == CENSORED


def test_a_training_without_evaluations_says_to_set_eval_strategy(tmp_path, caplog):
    with track(study="hf", seed=0, target=0.9, db=tmp_path / "r.db", device="cpu") as run:
        trainer = train(run, tmp_path, epochs=1, eval_strategy="no")
    assert trainer.state.global_step == 40  # trained all the same
    assert run.outcome.status == CENSORED and run.points == []
    assert "eval_strategy" in run.outcome.stop_reason and "eval_strategy" in caplog.text


def test_a_second_train_in_the_same_block_goes_on_from_the_first(tmp_path):
    with track(study="hf", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        train(run, tmp_path, epochs=1)
        train(run, tmp_path, epochs=1)  # a new Trainer counts its steps from 0 again
    assert run.outcome.status == CENSORED
    assert [(p.step, p.epoch) for p in run.points] == [(40, 1.0), (80, 2.0)]


def test_a_training_another_callback_stopped_early_says_so(tmp_path):
    from transformers import EarlyStoppingCallback

    xt, yt, xv, yv = digits()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=6,
        per_device_train_batch_size=32,
        learning_rate=5e-3,
        eval_strategy="epoch",
        save_strategy="epoch",
        metric_for_best_model="eval_accuracy",
        load_best_model_at_end=True,
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
    )
    with track(study="hf", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        early = EarlyStoppingCallback(early_stopping_patience=1, early_stopping_threshold=0.5)
        trainer = Trainer(
            model=Classifier(),
            args=args,
            train_dataset=rows(xt, yt),
            eval_dataset=rows(xv, yv),
            compute_metrics=accuracy,
            callbacks=[PowertrainCallback(run), early],
        )
        trainer.train()
    assert trainer.state.global_step < trainer.state.max_steps  # stopped before its end
    assert run.outcome.status == CENSORED
    assert "stopped early by a callback" in run.outcome.stop_reason


def test_a_training_resumed_from_a_checkpoint_warns_that_the_run_counts_from_there(
    tmp_path, caplog
):
    with track(study="hf-a", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        train(run, tmp_path, epochs=1, save_strategy="epoch")
    assert "resumes at" not in caplog.text
    with track(study="hf-b", seed=0, target=1.0, db=tmp_path / "r.db", device="cpu") as run:
        train(run, tmp_path, epochs=2, resume=str(tmp_path / "checkpoint-40"))
    assert [p.step for p in run.points] == [80]  # the checkpoint's count goes on
    assert "the Trainer resumes at epoch 1 (step 40)" in caplog.text


def test_energy_first_without_powertrains_callback_is_one_clear_error(tmp_path):
    xt, yt, _, _ = digits()
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = Trainer(model=Classifier(), args=args, train_dataset=rows(xt, yt))
    with pytest.raises(PowertrainError, match="no PowertrainCallback to put first"):
        energy_first(trainer)  # report_to's integrations would have logged no energy, silently
    with pytest.raises(
        PowertrainError, match="takes a transformers Trainer, got TrainingArguments"
    ):
        energy_first(args)
