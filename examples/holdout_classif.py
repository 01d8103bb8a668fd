"""The data of examples/holdout-mlp-classif.yaml: a many-class task scikit-learn makes offline.

``make_classification`` with a fixed ``random_state``: 16,000 rows of 40 features, 16 of them
informative, 6 linear mixtures of those, the rest noise; 8 classes, each two Gaussian clusters on
the corners of a hypercube, with 3 % of the labels flipped (so no model reaches 1.0). Standardised
with the training rows' statistics; the split is the same for every run.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_classification

from powertrain.data.base import Dataset, Task, from_arrays


def load(val_size: int = 1500, test_size: int = 1500, seed: int = 0) -> Dataset:
    x, y = make_classification(
        n_samples=16000,
        n_features=40,
        n_informative=16,
        n_redundant=6,
        n_classes=8,
        n_clusters_per_class=2,
        flip_y=0.03,
        class_sep=1.5,
        random_state=2027,
    )
    rng = np.random.default_rng(seed)
    return from_arrays(
        "holdout-classif",
        x.astype(np.float32),
        y.astype(np.int64),
        Task("class", 8),
        val_size,
        test_size,
        rng,
    )
