"""What one training step and one evaluation are, for classification tasks (single- or multi-label),
one task or several sharing a backbone.

A step function takes (model, batch) and returns the loss; an evaluation function takes the model and
returns the validation (or test) accuracy per task, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from powertrain.data.base import Split, Task
from powertrain.data.stream import StreamSplit


def task_loss(logits: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    if task.multilabel:
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.cross_entropy(logits, target)


def correct(logits: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    """Correct predictions summed (for multi-label: the mean over labels, per example)."""
    if task.multilabel:
        return ((logits > 0).float() == target).float().mean(dim=1).sum()
    return (logits.argmax(dim=1) == target).sum()


def classification_step(task: Task) -> Callable:
    """One model, one task, one split."""

    def step(model: nn.Module, batch: Split) -> torch.Tensor:
        return task_loss(model(batch.x), batch.y[task.name], task)

    return step


def shared_input_step(tasks: list) -> Callable:
    """A multi-head model, several label sets of the same inputs (CelebA attributes and identity):
    the backbone runs once, the losses add up. ``tasks``: TaskData (name, task, label)."""

    def step(model: nn.Module, batch: Split) -> torch.Tensor:
        logits = model.all_heads(batch.x)
        return sum(task_loss(logits[t.name], batch.y[t.label], t.task) for t in tasks)

    return step


def joint_step(tasks: dict) -> Callable:
    """A multi-head model, one batch from each task's own data set (Fashion-MNIST and MNIST)."""

    def step(model: nn.Module, batch: dict[str, Split]) -> torch.Tensor:
        return sum(
            task_loss(model(b.x, task=name), b.y[tasks[name].label], tasks[name].task)
            for name, b in batch.items()
        )

    return step


@torch.no_grad()
def accuracy(
    model: nn.Module,
    split: Split | StreamSplit,
    task: Task,
    label_key: str | None = None,
    batch_size: int = 1024,
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> float:
    was_training = model.training
    model.eval()
    total, count = None, 0
    key = label_key or task.name
    for batch in split.batches(batch_size):  # in order; a StreamSplit reads batch by batch
        logits = forward(model, batch.x) if forward else model(batch.x)
        right = correct(logits.float(), batch.y[key], task)
        total = right if total is None else total + right
        count += len(batch)
    model.train(was_training)
    return float(total) / count if count else 0.0


def evaluator(
    checks: dict[str, tuple[Split, Task, str, str | None]],
) -> Callable[[nn.Module], dict[str, float]]:
    """Accuracy per named task: (split, task, label key, head name or None for a single-head model)."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        return {
            name: accuracy(
                model,
                split,
                task,
                key,
                forward=(lambda m, x, h=head: m(x, task=h)) if head is not None else None,
            )
            for name, (split, task, key, head) in checks.items()
        }

    return evaluate
