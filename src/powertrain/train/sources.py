"""Where a run's training batches come from: one split, or several trained together (multitask).

A batch is what the step function receives: a ``Split`` for one source, a dict of ``Split`` per task
for joint sources. Batches are index slices of tensors already on the device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from powertrain.data.base import Split


class SingleSource:
    """Shuffled index-slice batches of one split; an epoch is one pass over it."""

    def __init__(self, split: Split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.split) / batch_size)

    def epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Split, int]]:
        order = torch.randperm(len(self.split), generator=generator).to(self.split.x.device)
        for start in range(0, len(self.split), batch_size):
            batch = self.split.take(order[start : start + batch_size])
            yield batch, len(batch)


class JointSource:
    """One batch from every task's split at each step. An epoch is a pass over the largest split; the
    smaller ones are reshuffled and go round again as often as needed."""

    def __init__(self, splits: dict[str, Split]) -> None:
        self.splits = splits
        self._orders: dict[str, tuple[torch.Tensor, int]] = {}

    def __len__(self) -> int:
        return max(len(s) for s in self.splits.values())

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def _next(self, name: str, batch_size: int, generator: torch.Generator) -> Split:
        split = self.splits[name]
        order, position = self._orders.get(name, (None, len(split)))
        if position >= len(split):
            order, position = torch.randperm(len(split), generator=generator).to(split.x.device), 0
        self._orders[name] = (order, position + batch_size)
        return split.take(order[position : position + batch_size])

    def epoch(
        self, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[dict[str, Split], int]]:
        for _ in range(self.steps_per_epoch(batch_size)):
            batch = {name: self._next(name, batch_size, generator) for name in self.splits}
            yield batch, sum(len(b) for b in batch.values())
