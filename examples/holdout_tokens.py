"""The data and the model of examples/holdout-attention-tokens.yaml: self-attention counts tokens.

Each row is a sequence of 24 tokens drawn from 12 (one-hot). Its class (4) is which of tokens 1-4
occurs most often in it (a tie goes to the lowest of them): a count over the whole sequence, which
attention can gather in one layer; 8 % of labels are then redrawn at random, so no model reaches 1.0.
8,000 rows made offline with a fixed seed; the one-hot features scaled by one
spread over everything (``per_feature=False``), so every token keeps the same scale; the split is the
same for every run. The model is one transformer encoder layer (width 32, 2 heads, no dropout) over
the embedded tokens and learnt positions, mean-pooled into a linear classifier.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from powertrain.data.base import Dataset, Task, from_arrays

ROWS, LENGTH, VOCAB, CLASSES = 8000, 24, 12, 4
FLIPPED = 0.08


def load(val_size: int = 1000, test_size: int = 1000, seed: int = 0) -> Dataset:
    make = np.random.default_rng(2047)
    tokens = make.integers(0, VOCAB, (ROWS, LENGTH))
    counts = np.stack([(tokens == t).sum(axis=1) for t in range(1, CLASSES + 1)], axis=1)
    y = counts.argmax(axis=1)  # argmax takes the first of a tie: the lowest token
    flip = make.random(ROWS) < FLIPPED
    y[flip] = make.integers(0, CLASSES, int(flip.sum()))
    x = np.eye(VOCAB, dtype=np.float32)[tokens]
    return from_arrays(
        "holdout-tokens",
        x,
        y.astype(np.int64),
        Task("class", CLASSES),
        val_size,
        test_size,
        np.random.default_rng(seed),
        per_feature=False,
    )


class TokenAttention(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, width: int = 32):
        super().__init__()
        length, vocab = input_shape
        self.embed = nn.Linear(vocab, width)  # one-hot rows: an embedding
        self.position = nn.Parameter(torch.zeros(length, width))
        self.encoder = nn.TransformerEncoderLayer(
            width, nhead=2, dim_feedforward=2 * width, dropout=0.0, batch_first=True
        )
        self.feature_dim = width
        self.head = nn.Linear(width, num_outputs)

    def features(self, x):
        return self.encoder(self.embed(x) + self.position).mean(dim=1)

    def forward(self, x):
        return self.head(self.features(x))


def build(input_shape: tuple[int, ...], num_outputs: int, width: int = 32) -> nn.Module:
    return TokenAttention(input_shape, num_outputs, width)
