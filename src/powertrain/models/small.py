"""Small models for images and sensor windows: an MLP, a small CNN, a 1-D CNN."""

from __future__ import annotations

import math
from typing import Annotated

from torch import nn

from powertrain.registry import COUNT


class MLP(nn.Module):
    def __init__(
        self, input_shape: tuple[int, ...], num_outputs: int, hidden: tuple[int, ...] = (256, 128)
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.features = nn.Sequential(*layers)
        self.feature_dim = width
        self.head = nn.Linear(width, num_outputs)

    def forward(self, x):
        return self.head(self.features(x))


class SmallCNN(nn.Module):
    """Two conv-pool blocks and a linear layer: ~20 s per Fashion-MNIST epoch on two CPU cores."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        channels: Annotated[int, COUNT] = 32,
        hidden: Annotated[int, COUNT] = 128,
    ):
        super().__init__()
        c, h, w = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * channels * (h // 4) * (w // 4), hidden),
            nn.ReLU(),
        )
        self.feature_dim = hidden
        self.head = nn.Linear(hidden, num_outputs)

    def forward(self, x):
        return self.head(self.features(x))


class SensorCNN(nn.Module):
    """A 1-D CNN over (channels, time) windows, for inertial sensor data such as PAMAP2."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        channels: Annotated[int, COUNT] = 64,
        blocks: Annotated[int, COUNT] = 3,
    ):
        super().__init__()
        in_channels = input_shape[0]
        layers: list[nn.Module] = []
        for i in range(blocks):
            out = channels * (2 ** min(i, 2))
            layers += [
                nn.Conv1d(in_channels, out, 5, padding=2),
                nn.BatchNorm1d(out),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            in_channels = out
        layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.feature_dim = in_channels
        self.head = nn.Linear(in_channels, num_outputs)

    def forward(self, x):
        return self.head(self.features(x))
