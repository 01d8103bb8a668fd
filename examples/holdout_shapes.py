"""The data of examples/holdout-cnn-shapes.yaml: small noisy pictures of shapes, drawn here with numpy.

9,000 grey 16 x 16 images, each of one of four shapes (a ring, a filled square, a filled triangle, a
cross), at a random place and size, of a random brightness, on noise with a stray line across some
of them. Unlike the other grids' images (digits, clothes) nothing here was written or photographed:
a small CNN has to learn outlines from scratch. The split is the same for every run.
"""

from __future__ import annotations

import numpy as np

from powertrain.data.base import Dataset, Task, from_arrays

SHAPES = ("ring", "square", "triangle", "cross")
SIDE = 16


def _shape(kind: int, y: np.ndarray, x: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    """A mask of shape ``kind`` of radius ``r`` around (cy, cx) on the pixel grid (y, x)."""
    dy, dx = y - cy, x - cx
    if kind == 0:  # a ring
        d = np.hypot(dy, dx)
        return (d <= r) & (d >= r - 1.6)
    if kind == 1:  # a filled square
        return (np.abs(dy) <= r * 0.8) & (np.abs(dx) <= r * 0.8)
    if kind == 2:  # a filled triangle, point up
        return (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    return (np.abs(dy) <= r) & (np.abs(dx) <= 0.9) | (np.abs(dx) <= r) & (np.abs(dy) <= 0.9)


def pictures(n: int = 9000, seed: int = 2031) -> tuple[np.ndarray, np.ndarray]:
    """(images of shape (n, 1, SIDE, SIDE), class) of ``n`` pictures."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(SHAPES), n)
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    images = rng.normal(0.0, 0.45, (n, SIDE, SIDE)).astype(np.float32)
    for i in range(n):
        r = rng.uniform(3.0, 6.0)
        cy, cx = rng.uniform(r, SIDE - 1 - r, 2)
        images[i] += rng.uniform(0.6, 1.4) * _shape(int(label[i]), y, x, cy, cx, r)
        if rng.random() < 0.5:  # a stray line: a thin band through the picture
            angle, offset = rng.uniform(0, np.pi), rng.uniform(-5, 5)
            band = np.abs((x - SIDE / 2) * np.sin(angle) - (y - SIDE / 2) * np.cos(angle) - offset)
            images[i] += rng.uniform(0.3, 0.9) * (band < 0.6)
    return images[:, None], label


def load(val_size: int = 1500, test_size: int = 1500, seed: int = 0) -> Dataset:
    x, y = pictures()
    rng = np.random.default_rng(seed)
    task = Task("shape", len(SHAPES))
    # one scale over every pixel: they share their units
    return from_arrays("holdout-shapes", x, y, task, val_size, test_size, rng, per_feature=False)
