"""The in-memory data set every loader returns: tensors, split three ways, labels per task.

Batches are index slices of these tensors (no per-sample collation), so a data set lives on the device
once and an epoch is a permutation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from powertrain.errors import PowertrainError


@dataclass(frozen=True)
class Task:
    """One prediction target: ``num_classes`` classes, or ``num_classes`` independent binary labels."""

    name: str
    num_classes: int
    multilabel: bool = False


@dataclass
class Split:
    x: torch.Tensor
    y: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: torch.Tensor | np.ndarray) -> Split:
        index = torch.as_tensor(index)
        return Split(self.x[index], {k: v[index] for k, v in self.y.items()})

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), {k: v.to(device) for k, v in self.y.items()})

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        """Batches in order, or shuffled with ``generator`` (the same interface as ``StreamSplit``)."""
        n = len(self)
        order = None
        if generator is not None:  # drawn on the CPU (as before), moved to the data's device once
            order = torch.randperm(n, generator=generator).to(self.x.device)
        for start in range(0, n, batch_size):
            if order is None:
                yield Split(
                    self.x[start : start + batch_size],
                    {k: v[start : start + batch_size] for k, v in self.y.items()},
                )
            else:
                yield self.take(order[start : start + batch_size])

    def steps(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


@dataclass
class Dataset:
    """What a data-set function returns. ``train``, ``val`` and ``test`` are ``Split``s of tensors, or
    (for data that does not fit in memory) map-style ``torch.utils.data.Dataset``s or DataLoader
    factories, which ``powertrain.data.registry.load_dataset`` turns into ``StreamSplit``s."""

    name: str
    input_shape: tuple[int, ...]
    tasks: dict[str, Task]
    train: Split | Any
    val: Split | Any
    test: Split | Any
    info: dict = field(default_factory=dict)

    @property
    def default_task(self) -> str:
        return next(iter(self.tasks))

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(
            self.name,
            self.input_shape,
            self.tasks,
            self.train.to(device),
            self.val.to(device),
            self.test.to(device),
            self.info,
        )


def from_arrays(
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    task: Task,
    val_size: int,
    test_size: int,
    rng: np.random.Generator,
    per_feature: bool = True,
) -> Dataset:
    """A data set made in memory (rows of ``features``, a class per row in ``labels``): test, then
    validation, then training rows in an order ``rng`` draws (seed it, and every run gets the same
    split), the features standardised by the training rows' mean and spread, per feature or (not
    ``per_feature``: signals whose channels share a scale) one spread over everything."""
    if not (val_size > 0 and test_size > 0 and val_size + test_size < len(features)):
        raise PowertrainError(
            f"{name}: val_size {val_size} and test_size {test_size} leave no training rows of "
            f"{len(features)}"
        )
    order = rng.permutation(len(features))
    test, val = order[:test_size], order[test_size : test_size + val_size]
    train = order[test_size + val_size :]
    if per_feature:
        mean, std = features[train].mean(axis=0), features[train].std(axis=0) + 1e-6
    else:
        mean, std = 0.0, float(features[train].std()) + 1e-6

    def split(rows) -> Split:
        x = torch.tensor((features[rows] - mean) / std, dtype=torch.float32)
        return Split(x, {task.name: torch.tensor(labels[rows], dtype=torch.long)})

    shape = tuple(features.shape[1:])
    return Dataset(name, shape, {task.name: task}, split(train), split(val), split(test))


def split_train_val(
    x: np.ndarray, y: dict[str, np.ndarray], val_size: int | float, seed: int
) -> tuple[tuple[np.ndarray, dict], tuple[np.ndarray, dict]]:
    """Hold out ``val_size`` examples (a count, or a fraction below 1) of the training set, seeded."""
    n = len(x)
    n_val = (
        int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    )
    if not 0 < n_val < n:
        raise PowertrainError(
            f"val_size {val_size} leaves no training or no validation data ({n} examples)"
        )
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return (x[train], {k: v[train] for k, v in y.items()}), (
        x[val],
        {k: v[val] for k, v in y.items()},
    )


def subsample(
    x: np.ndarray, y: dict[str, np.ndarray], size: int | None, seed: int, name: str = "subset size"
):
    if size is None or size >= len(x):
        return x, y
    if size <= 0:
        raise PowertrainError(f"{name} must be positive, got {size}")
    keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:size])
    return x[keep], {k: v[keep] for k, v in y.items()}


def images_to_tensor(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 images (N, C, H, W) or (N, H, W) to standardised float32 (N, C, H, W)."""
    if images.ndim == 3:
        images = images[:, None]
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units."""
    if images.ndim == 3:
        images = images[:, None]
    scaled = images.astype(np.float32) / 255.0
    return scaled.mean(axis=(0, 2, 3)), scaled.std(axis=(0, 2, 3)) + 1e-6


def build_image_dataset(
    name: str,
    train_images: np.ndarray,
    train_labels: dict[str, np.ndarray],
    test_images: np.ndarray,
    test_labels: dict[str, np.ndarray],
    tasks: dict[str, Task],
    *,
    val_size: int | float,
    train_size: int | None,
    test_size: int | None,
    seed: int,
    info: dict | None = None,
) -> Dataset:
    """Split, subsample and standardise (with training-set statistics) a set of uint8 images."""
    (x_tr, y_tr), (x_val, y_val) = split_train_val(train_images, train_labels, val_size, seed)
    x_tr, y_tr = subsample(x_tr, y_tr, train_size, seed, "train_size")
    x_te, y_te = subsample(test_images, test_labels, test_size, seed, "test_size")
    mean, std = channel_stats(x_tr)

    def split(x, y) -> Split:
        return Split(
            images_to_tensor(x, mean, std), {k: _labels(v, tasks[k]) for k, v in y.items()}
        )

    train = split(x_tr, y_tr)
    return Dataset(
        name,
        tuple(train.x.shape[1:]),
        tasks,
        train,
        split(x_val, y_val),
        split(x_te, y_te),
        info or {},
    )


def _labels(values: np.ndarray, task: Task) -> torch.Tensor:
    tensor = torch.from_numpy(np.array(values))  # a writable copy
    return tensor.float() if task.multilabel else tensor.long()


def with_fixed_test_split(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    task: Task,
    *,
    test_size: int,
    val_size: int | float,
    train_size: int | None,
    seed: int,
) -> Dataset:
    """For data sets that ship without a test split: hold out ``test_size`` images, the same ones
    whatever the seed, then split and standardise the rest like any image data set."""
    n = len(images)
    if (
        not 0 < test_size < n - 1
    ):  # a test set, and at least two images left to train and validate on
        raise PowertrainError(
            f"test_size {test_size} leaves no test data or no training data ({n} examples; "
            f"test_size must be from 1 to {n - 2})"
        )
    order = np.random.default_rng(1234).permutation(n)
    test, train = order[:test_size], order[test_size:]
    return build_image_dataset(
        name,
        images[train],
        {task.name: labels[train]},
        images[test],
        {task.name: labels[test]},
        {task.name: task},
        val_size=val_size,
        train_size=train_size,
        test_size=None,
        seed=seed,
    )
