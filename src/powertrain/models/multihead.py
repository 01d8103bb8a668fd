"""One shared backbone with one head per task, for multitask training."""

from __future__ import annotations

import re

import torch
from torch import nn


def head_key(task: str) -> str:
    """A module name for a task (ModuleDict keys may not contain dots)."""
    return re.sub(r"\W", "_", task)


class MultiHead(nn.Module):
    def __init__(self, backbone: nn.Module, outputs: dict[str, int]) -> None:
        """``backbone``: any registry model (it has ``features`` and ``feature_dim``); its own head is
        unused. ``outputs``: classes (or labels) per task."""
        super().__init__()
        self.backbone = backbone
        self.names = {task: head_key(task) for task in outputs}
        self.heads = nn.ModuleDict(
            {self.names[t]: nn.Linear(backbone.feature_dim, n) for t, n in outputs.items()}
        )

    def forward(self, x: torch.Tensor, task: str) -> torch.Tensor:
        return self.heads[self.names[task]](self.backbone.features(x))

    def all_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone.features(x)
        return {task: self.heads[key](features) for task, key in self.names.items()}

    def parameters_in_use(self):
        """The backbone's features and the task heads, not the backbone's own (unused) head."""
        unused = {id(p) for p in self.backbone.head.parameters()}
        return [p for p in self.parameters() if id(p) not in unused]
