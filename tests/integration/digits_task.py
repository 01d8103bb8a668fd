"""A small task every framework test shares: sklearn digits (flattened, normalised), a small MLP."""

from __future__ import annotations

import torch
from torch import nn

from powertrain.data.registry import load_dataset


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val): 1,272 and 225 digits as 64 features."""
    data = load_dataset("digits", seed=0)
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    return flat(data.train.x), data.train.y["digit"], flat(data.val.x), data.val.y["digit"]


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
