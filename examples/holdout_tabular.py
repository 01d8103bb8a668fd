"""The data of examples/holdout-mlp-tabular.yaml: a tabular task scikit-learn makes offline.

``make_classification`` with a fixed ``random_state``: 12,000 rows of 20 numeric features (10 that
carry the class, 4 mixes of those, 6 noise), 4 classes of 2 clusters each, 2 % of labels flipped.
Synthetic, and unlike every other grid here (images, or windows of sensor readings): rows of numbers,
standardised with the training rows' statistics. The split is the same for every run.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_classification

from powertrain.data.base import Dataset, Split, Task

TASKS = {"class": Task("class", 4)}


def load(val_size: int = 1000, test_size: int = 1000, seed: int = 0) -> Dataset:
    x, y = make_classification(
        n_samples=12000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=4,
        n_clusters_per_class=2,
        flip_y=0.02,
        random_state=2026,
    )
    order = np.random.default_rng(seed).permutation(len(x))
    test, val = order[:test_size], order[test_size : test_size + val_size]
    train = order[test_size + val_size :]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6

    def split(rows) -> Split:
        features = torch.tensor((x[rows] - mean) / std, dtype=torch.float32)
        return Split(features, {"class": torch.tensor(y[rows], dtype=torch.long)})

    return Dataset("holdout-tabular", (20,), TASKS, split(train), split(val), split(test))
