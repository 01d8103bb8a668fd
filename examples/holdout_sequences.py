"""The data and the model of examples/holdout-gru-sequences.yaml: a GRU reads noisy sequences.

Each row is a sequence of 12 steps of 3 channels of Gaussian noise. Its class (4, chance 0.25) is two
bits that need memory across the sequence: whether channel 0 summed over the first 6 steps is
positive, and whether channel 1 summed over the last 6 is; 8 % of labels are then redrawn at
random, so no model reaches 1.0. 10,000 rows made offline with a fixed seed, standardised with the
training rows' statistics (one spread: the channels share a scale); the split is the same for every
run. The model is a one-layer GRU whose last hidden state feeds a linear classifier.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from powertrain.data.base import Dataset, Task, from_arrays

ROWS, STEPS, CHANNELS, CLASSES = 10000, 12, 3, 4
FLIPPED = 0.08


def load(val_size: int = 1500, test_size: int = 1500, seed: int = 0) -> Dataset:
    make = np.random.default_rng(2031)
    x = make.normal(0.0, 1.0, (ROWS, STEPS, CHANNELS))
    half = STEPS // 2
    y = 2 * (x[:, :half, 0].sum(axis=1) > 0) + (x[:, half:, 1].sum(axis=1) > 0)
    flip = make.random(ROWS) < FLIPPED
    y[flip] = make.integers(0, CLASSES, int(flip.sum()))
    rng = np.random.default_rng(seed)
    data = x.astype(np.float32), y.astype(np.int64)
    return from_arrays(
        "holdout-sequences",
        *data,
        Task("class", CLASSES),
        val_size,
        test_size,
        rng,
        per_feature=False,
    )


class GRUClassifier(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, hidden: int = 32):
        super().__init__()
        self.gru = nn.GRU(input_shape[-1], hidden, batch_first=True)
        self.feature_dim = hidden
        self.head = nn.Linear(hidden, num_outputs)

    def features(self, x):
        _, last = self.gru(x)
        return last[-1]

    def forward(self, x):
        return self.head(self.features(x))


def build(input_shape: tuple[int, ...], num_outputs: int, hidden: int = 32) -> nn.Module:
    return GRUClassifier(input_shape, num_outputs, hidden)
