"""The data of examples/holdout-cnn-waves.yaml: short multichannel signals made here with numpy.

8,000 windows of 3 channels x 64 samples, as an inertial sensor would give: noise, a slow drift, and
somewhere in each window a burst of a few cycles whose frequency is the class (4 classes, close
enough to each other that noise blurs them), on one channel or spread over all three. A 1-D CNN has
to find the burst wherever it lies: unlike the other grids' images, rows or points in space. The
split is the same for every run.
"""

from __future__ import annotations

import numpy as np

from powertrain.data.base import Dataset, Task, from_arrays

CYCLES_PER_SAMPLE = (0.06, 0.1, 0.14, 0.18)  # each class's burst frequency


def windows(n: int = 8000, length: int = 64, seed: int = 2029) -> tuple[np.ndarray, np.ndarray]:
    """(signals of shape (n, 3, length), class) of ``n`` windows."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(CYCLES_PER_SAMPLE), n)
    t = np.arange(length)
    start = rng.integers(0, length - 24, n)[:, None]
    span = rng.integers(16, 24, n)[:, None]
    inside = (t >= start) & (t < start + span)
    freq = np.take(CYCLES_PER_SAMPLE, label)[:, None] * rng.uniform(0.93, 1.07, (n, 1))
    burst = np.sin(2 * np.pi * freq * (t - start)) * inside * rng.uniform(0.6, 1.4, (n, 1))
    mix = rng.dirichlet(np.full(3, 0.5), n)[:, :, None]  # how the burst falls on the channels
    drift = np.cumsum(rng.normal(0, 0.05, (n, 3, length)), axis=2)
    signals = mix * burst[:, None, :] + drift + rng.normal(0, 0.3, (n, 3, length))
    return signals.astype(np.float32), label


def load(val_size: int = 1500, test_size: int = 1500, seed: int = 0) -> Dataset:
    x, y = windows()
    rng = np.random.default_rng(seed)
    task = Task("burst", len(CYCLES_PER_SAMPLE))
    # one scale over every channel and sample: the signals share their units
    return from_arrays("holdout-waves", x, y, task, val_size, test_size, rng, per_feature=False)
