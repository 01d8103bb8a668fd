"""The data of examples/holdout-mlp-hastie.yaml: a binary task scikit-learn makes offline.

``make_hastie_10_2`` (Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*, example
10.2) with a fixed ``random_state``: 12,000 rows of 10 standard normal features, the class whether their
sum of squares passes 9.34 (the chi-squared median, so the classes are balanced). The boundary is a
sphere: no straight line separates the classes, and an untrained model scores chance, 0.5, where every
other grid here has 3 to 10 classes. Standardised with the training rows' statistics; the split is the
same for every run.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_hastie_10_2

from powertrain.data.base import Dataset, Task, from_arrays


def load(val_size: int = 1000, test_size: int = 1000, seed: int = 0) -> Dataset:
    x, y = make_hastie_10_2(n_samples=12000, random_state=2026)
    rng = np.random.default_rng(seed)
    labels = (y > 0).astype(np.int64)  # -1 / 1 -> 0 / 1
    return from_arrays(
        "holdout-hastie", x.astype(np.float32), labels, Task("class", 2), val_size, test_size, rng
    )
