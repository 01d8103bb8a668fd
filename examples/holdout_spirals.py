"""The data of examples/holdout-mlp-spirals.yaml: three interleaved spirals, made here with numpy.

30,000 points in the plane on three spiral arms that wind one and a half turns about the centre, with
Gaussian noise, then lifted to 8 features (the two coordinates and six fixed random rotations of
them squashed by tanh, so that the rows look like sensor readings rather than a picture). The class
is the arm. Telling the arms apart needs a boundary that winds with them: a network takes many
epochs where a straight line or a few clusters do not suffice. The split is the same for every run.
"""

from __future__ import annotations

import numpy as np

from powertrain.data.base import Dataset, Task, from_arrays


def points(n: int = 30000, noise: float = 0.12, seed: int = 2028) -> tuple[np.ndarray, np.ndarray]:
    """(features, arm) of ``n`` points on three noisy spiral arms, each lifted to 8 features."""
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 3, n)
    r = np.sqrt(rng.random(n))  # more points far out, where the arms are long
    angle = 3 * np.pi * r + 2 * np.pi * arm / 3
    xy = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) + rng.normal(
        0, noise * r[:, None]
    )
    turns = rng.normal(size=(2, 6))
    return np.concatenate([xy, np.tanh(2 * xy @ turns)], axis=1), arm


def load(val_size: int = 2000, test_size: int = 2000, seed: int = 0) -> Dataset:
    x, y = points()
    rng = np.random.default_rng(seed)
    return from_arrays("holdout-spirals", x, y, Task("arm", 3), val_size, test_size, rng)
