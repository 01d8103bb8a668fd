"""What one training step and one evaluation are, for a classification task (single- or multi-label).

A step function takes (model, inputs, labels per task) and returns the loss; an evaluation function
takes (model, split) and returns an accuracy in [0, 1]. Paradigms supply their own.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from powertrain.data.base import Split, Task

StepFn = Callable[[nn.Module, torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]
EvalFn = Callable[[nn.Module, Split], float]


def task_loss(logits: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    if task.multilabel:
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.cross_entropy(logits, target)


def correct(logits: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    """Correct predictions summed (for multi-label: the mean over labels, per example)."""
    if task.multilabel:
        return ((logits > 0).float() == target).float().mean(dim=1).sum()
    return (logits.argmax(dim=1) == target).sum()


def classification_step(task: Task) -> StepFn:
    def step(model: nn.Module, x: torch.Tensor, y: dict[str, torch.Tensor]) -> torch.Tensor:
        return task_loss(model(x), y[task.name], task)

    return step


@torch.no_grad()
def accuracy(
    model: nn.Module,
    split: Split,
    task: Task,
    batch_size: int = 1024,
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> float:
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=split.x.device)
    for start in range(0, len(split), batch_size):
        x = split.x[start : start + batch_size]
        logits = forward(model, x) if forward else model(x)
        total += correct(logits.float(), split.y[task.name][start : start + batch_size], task)
    model.train(was_training)
    return float(total) / max(1, len(split))


def classification_eval(task: Task) -> EvalFn:
    return lambda model, split: accuracy(model, split, task)
