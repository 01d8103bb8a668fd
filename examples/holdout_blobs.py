"""The data of examples/holdout-mlp-blobs.yaml: overlapping Gaussian clusters scikit-learn makes
offline.

``make_blobs`` with a fixed ``random_state``: 20,000 rows of 8 features around 10 centres (one class
each), their spread wide enough that the clusters overlap (no model reaches 1.0; chance is 0.1).
Standardised with the training rows' statistics; the split is the same for every run.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_blobs

from powertrain.data.base import Dataset, Task, from_arrays


def load(val_size: int = 2000, test_size: int = 2000, seed: int = 0) -> Dataset:
    x, y = make_blobs(n_samples=20000, n_features=8, centers=10, cluster_std=3.0, random_state=2028)
    rng = np.random.default_rng(seed)
    blobs = x.astype(np.float32), y.astype(np.int64)
    return from_arrays("holdout-blobs", *blobs, Task("class", 10), val_size, test_size, rng)
