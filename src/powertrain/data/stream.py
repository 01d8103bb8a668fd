"""A split read batch by batch, for data sets that do not fit in memory.

A user's data-set function may give, for any split, a map-style ``torch.utils.data.Dataset`` whose items
are ``(x, label)`` (``label``: a class index, or a dict of labels per task), or a DataLoader factory: a
function ``(batch_size, generator) -> DataLoader`` that shuffles with ``generator`` and keeps the order
when it is None. Either becomes a ``StreamSplit``: batches are collated by a DataLoader and moved to the
device one at a time. Shuffling is seeded by the run's generator, like the in-memory splits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from powertrain.data.base import Split, Task
from powertrain.errors import PowertrainError

LoaderFactory = Callable[[int, "torch.Generator | None"], Any]


class StreamSplit:
    def __init__(
        self,
        tasks: dict[str, Task],
        *,
        dataset: Any = None,
        factory: LoaderFactory | None = None,
        device: torch.device | str = "cpu",
        where: str = "a split",
    ) -> None:
        if (dataset is None) == (factory is None):
            raise ValueError("a StreamSplit reads from a dataset or a loader factory, not both")
        self.tasks = tasks
        self.dataset = dataset
        self.factory = factory
        self.device = torch.device(device)
        self.where = where

    def __len__(self) -> int:
        if self.dataset is not None:
            return len(self.dataset)
        loader = self.factory(1, None)
        inner = getattr(loader, "dataset", None)
        if inner is None or not hasattr(inner, "__len__"):
            raise PowertrainError(
                f"{self.where}: the loader factory's DataLoader has no sized `dataset`; "
                "build it over a map-style torch.utils.data.Dataset"
            )
        return len(inner)

    @property
    def x(self) -> torch.Tensor:
        """Streamed inputs are never all in memory: say so to code that wants them as one tensor."""
        raise PowertrainError(
            f"{self.where} is streamed (a torch Dataset or a DataLoader factory), not a tensor in "
            "memory; this needs the split as powertrain.data.Split(x, labels)"
        )

    def to(self, device: torch.device | str) -> StreamSplit:
        return StreamSplit(
            self.tasks, dataset=self.dataset, factory=self.factory, device=device, where=self.where
        )

    def loader(self, batch_size: int, generator: torch.Generator | None = None):
        """Batches in order (``generator`` None) or shuffled with ``generator``."""
        if self.factory is not None:
            return self.factory(batch_size, generator)
        from torch.utils.data import DataLoader

        return DataLoader(
            self.dataset, batch_size=batch_size, shuffle=generator is not None, generator=generator
        )

    def steps(self, batch_size: int) -> int:
        if self.factory is not None:
            return len(self.loader(batch_size))
        return math.ceil(len(self) / batch_size)

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Split]:
        for item in self.loader(batch_size, generator):
            yield self.as_split(item)

    def as_split(self, item: Any) -> Split:
        """A collated ``(x, labels)`` batch as a ``Split`` on the device."""
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise PowertrainError(
                f"{self.where}: a batch must be (inputs, labels), got {type(item).__name__}"
            )
        x, y = item
        if not isinstance(y, dict):
            if len(self.tasks) != 1:
                raise PowertrainError(
                    f"{self.where}: with several tasks ({', '.join(self.tasks)}) an item's label "
                    "must be a dict of labels per task"
                )
            y = {next(iter(self.tasks)): y}
        labels = {}
        for name, task in self.tasks.items():
            if name not in y:
                raise PowertrainError(f"{self.where}: an item has no label for task {name!r}")
            value = torch.as_tensor(y[name])
            labels[name] = (value.float() if task.multilabel else value.long()).to(self.device)
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError):
            raise PowertrainError(
                f"{self.where}: an item's input must be a tensor or a numpy array, "
                f"not {type(x).__name__} (a DataLoader collates lists element by element)"
            ) from None
        if x.dtype == torch.float64:  # numpy's default; integer inputs (token ids) stay as they are
            x = x.float()
        return Split(x.to(self.device), labels)


def first_batch(split: Split | StreamSplit, size: int = 2) -> Split:
    """Up to ``size`` examples of a split, as a batch (for probing a model and checking shapes)."""
    if isinstance(split, Split):
        return split.take(torch.arange(min(size, len(split))))
    return next(iter(split.batches(size)))
