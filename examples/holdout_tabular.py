"""The data of examples/holdout-mlp-tabular.yaml: a tabular task scikit-learn makes offline.

``make_classification`` with a fixed ``random_state``: 12,000 rows of 20 numeric features (10 that
carry the class, 4 mixes of those, 6 noise), 4 classes of 2 clusters each, 2 % of labels flipped.
Synthetic, and unlike every other grid here (images, or windows of sensor readings): rows of numbers,
standardised with the training rows' statistics. The split is the same for every run.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_classification

from powertrain.data.base import Dataset, Task, from_arrays


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
    rng = np.random.default_rng(seed)
    return from_arrays("holdout-tabular", x, y, Task("class", 4), val_size, test_size, rng)
