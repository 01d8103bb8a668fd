"""CIFAR-10 from its python batches (``cifar-10-batches-py``: data_batch_1..5, test_batch, batches.meta).

Each batch is a pickled dict with ``b"data"`` (10000 x 3072 uint8, the red, green then blue planes of
32x32 images) and ``b"labels"``. Pickles can run code, so they are read with an unpickler that builds
nothing but numpy arrays, lists and dicts.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Annotated

import numpy as np

from powertrain.data.base import Dataset, Task, build_image_dataset
from powertrain.data.paths import search_dirs
from powertrain.errors import PowertrainError
from powertrain.registry import COUNT, COUNT_OR_FRACTION

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    (
        "_codecs",
        "encode",
    ),  # how protocol-2 pickles written by Python 3 carry bytes; a pure function
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise PowertrainError(f"refusing to load {module}.{name} from a CIFAR-10 batch file")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (
        OSError,
        pickle.UnpicklingError,
        KeyError,
        ValueError,
        TypeError,
        EOFError,
        AttributeError,
        IndexError,
    ) as exc:
        raise PowertrainError(f"{path} is not a CIFAR-10 python batch: {exc}") from None
    if data.ndim != 2 or data.shape[1] != 3072:
        raise PowertrainError(
            f"{path}: its data has shape {data.shape}; a CIFAR-10 batch holds (N, 3072) bytes "
            "(32 x 32 pixels, 3 colour planes)"
        )
    if labels.shape != (len(data),):
        raise PowertrainError(f"{path}: {len(data)} images but {labels.size} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise PowertrainError(f"{path}: a label outside 0 ... 9")
    return data.reshape(-1, 3, 32, 32), labels


def find_cifar10() -> Path | None:
    for folder in search_dirs("cifar10"):
        for candidate in (folder / FOLDER, folder):
            if all((candidate / name).is_file() for name in [*TRAIN_BATCHES, "test_batch"]):
                return candidate
    return None


def load(
    val_size: Annotated[int | float, COUNT_OR_FRACTION] = 5000,
    train_size: Annotated[int | None, COUNT] = None,
    test_size: Annotated[int | None, COUNT] = None,
    seed: int = 0,
) -> Dataset:
    folder = find_cifar10()
    if folder is None:
        raise PowertrainError(
            f"CIFAR-10 not found: extract cifar-10-python.tar.gz so that {FOLDER}/ lies in "
            "$POWERTRAIN_DATA/cifar10 or ~/.cache/powertrain/cifar10"
        )
    parts = [read_batch(folder / name) for name in TRAIN_BATCHES]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = read_batch(folder / "test_batch")
    return build_image_dataset(
        "cifar10",
        train_x,
        {"class": train_y},
        test_x,
        {"class": test_y},
        {"class": Task("class", 10)},
        val_size=val_size,
        train_size=train_size,
        test_size=test_size,
        seed=seed,
    )
