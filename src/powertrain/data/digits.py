"""scikit-learn's 1,797 8x8 handwritten digits (pixels 0-16): tiny, for fast tests."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from powertrain.data.base import Dataset, Task, with_fixed_test_split
from powertrain.errors import PowertrainError
from powertrain.registry import COUNT, COUNT_OR_FRACTION


def load(
    val_size: Annotated[int | float, COUNT_OR_FRACTION] = 0.15,
    test_size: Annotated[int, COUNT] = 300,
    train_size: Annotated[int | None, COUNT] = None,
    seed: int = 0,
) -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise PowertrainError(
            "the digits data set ships with scikit-learn: pip install scikit-learn"
        ) from None
    bunch = load_digits()
    images = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    return with_fixed_test_split(
        name="digits",
        images=images,
        labels=labels,
        task=Task("digit", 10),
        test_size=test_size,
        val_size=val_size,
        train_size=train_size,
        seed=seed,
    )
