"""The data of examples/holdout-mlp-quantiles.yaml: a radial task scikit-learn makes offline.

``make_gaussian_quantiles`` with a fixed ``random_state``: 20,000 points of a 10-dimensional
Gaussian, cut into 3 classes by nested shells of equal probability (the class is the point's distance
from the centre), then 5 % of labels flipped. No straight line separates two classes, so a network has
to learn curved boundaries: unlike the other grids' images, sensor windows or clustered rows. The split
is the same for every run.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_gaussian_quantiles

from powertrain.data.base import Dataset, Task, from_arrays


def load(val_size: int = 2000, test_size: int = 2000, seed: int = 0) -> Dataset:
    x, y = make_gaussian_quantiles(n_samples=20000, n_features=10, n_classes=3, random_state=2027)
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < 0.05
    y = np.where(flip, rng.integers(0, 3, len(y)), y)
    return from_arrays("holdout-quantiles", x, y, Task("shell", 3), val_size, test_size, rng)
