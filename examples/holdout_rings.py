"""The data of examples/holdout-mlp-rings.yaml: concentric rings, hidden among noise features.

Four rings around the origin of a plane (radius 1-4, one class each, radial noise wide enough that
neighbouring rings overlap, so no model reaches 1.0; chance is 0.25), placed in 16 dimensions with
14 features of pure noise and turned by a fixed random rotation, so that no single feature shows the
rings. 16,000 rows made offline with a fixed seed, standardised with the training rows' statistics;
the split is the same for every run.
"""

from __future__ import annotations

import numpy as np

from powertrain.data.base import Dataset, Task, from_arrays

ROWS, RINGS, FEATURES = 16000, 4, 16


def load(val_size: int = 1500, test_size: int = 1500, seed: int = 0) -> Dataset:
    make = np.random.default_rng(2029)
    y = make.integers(0, RINGS, ROWS)
    radius = 1.0 + y + make.normal(0.0, 0.35, ROWS)
    angle = make.uniform(0.0, 2 * np.pi, ROWS)
    plane = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    noise = make.normal(0.0, 1.0, (ROWS, FEATURES - 2))
    rotation, _ = np.linalg.qr(make.normal(size=(FEATURES, FEATURES)))
    x = np.concatenate([plane, noise], axis=1) @ rotation
    rng = np.random.default_rng(seed)
    rings = x.astype(np.float32), y.astype(np.int64)
    return from_arrays("holdout-rings", *rings, Task("class", RINGS), val_size, test_size, rng)
