"""Where a run's training batches come from: one split, or several trained together (multitask).

A batch is what the step function receives: a ``Split`` for one source, a dict of ``Split`` per task
for joint sources. In-memory splits give index slices of tensors already on the device; a
``StreamSplit`` (a user's data set that does not fit in memory) gives DataLoader batches moved to the
device one at a time. Both shuffle with the run's seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from powertrain.data.base import Split
from powertrain.data.stream import StreamSplit


class SingleSource:
    """Shuffled batches of one split (in memory or streamed); an epoch is one pass over it."""

    def __init__(self, split: Split | StreamSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def steps_per_epoch(self, batch_size: int) -> int:
        return self.split.steps(batch_size)

    def epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Split, int]]:
        for batch in self.split.batches(batch_size, generator):
            yield batch, len(batch)

    def state(self) -> dict | None:
        """What an epoch's order depends on besides the generator: nothing (each epoch draws anew)."""
        return {}

    def load_state(self, state: dict) -> None:
        pass


class JointSource:
    """One batch from every task's split at each step. An epoch is a pass over the largest split; the
    smaller ones are reshuffled and go round again as often as needed."""

    def __init__(self, splits: dict[str, Split | StreamSplit]) -> None:
        self.splits = splits
        self._orders: dict[str, tuple[torch.Tensor, int]] = {}
        self._streams: dict[str, Iterator[Split]] = {}

    def __len__(self) -> int:
        return max(len(s) for s in self.splits.values())

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def state(self) -> dict | None:
        """Where each in-memory split's shuffled order stands (it runs on across epochs); None when a
        split is streamed (a DataLoader's iterator cannot be saved)."""
        if any(isinstance(s, StreamSplit) for s in self.splits.values()):
            return None
        return {name: [order.cpu(), position] for name, (order, position) in self._orders.items()}

    def load_state(self, state: dict) -> None:
        self._orders = {
            name: (order.to(self.splits[name].x.device), int(position))
            for name, (order, position) in state.items()
        }

    def _next(self, name: str, batch_size: int, generator: torch.Generator) -> Split:
        split = self.splits[name]
        if isinstance(split, StreamSplit):
            return self._next_streamed(name, split, batch_size, generator)
        order, position = self._orders.get(name, (None, len(split)))
        if position >= len(split):
            order, position = torch.randperm(len(split), generator=generator).to(split.x.device), 0
        self._orders[name] = (order, position + batch_size)
        return split.take(order[position : position + batch_size])

    def _next_streamed(
        self, name: str, split: StreamSplit, batch_size: int, generator: torch.Generator
    ) -> Split:
        for _ in range(2):  # a finished pass starts a new, reshuffled one
            stream = self._streams.setdefault(name, split.batches(batch_size, generator))
            batch = next(stream, None)
            if batch is not None:
                return batch
            del self._streams[name]
        raise ValueError(f"task {name!r}: its training split is empty")

    def epoch(
        self, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[dict[str, Split], int]]:
        for _ in range(self.steps_per_epoch(batch_size)):
            batch = {name: self._next(name, batch_size, generator) for name in self.splits}
            yield batch, sum(len(b) for b in batch.values())
