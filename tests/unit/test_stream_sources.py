"""Streamed splits behave as the in-memory ones: same interface, seeded shuffling, every item once."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from powertrain.data.base import Split, Task
from powertrain.data.stream import StreamSplit
from powertrain.errors import PowertrainError
from powertrain.train.sources import JointSource, SingleSource
from powertrain.train.steps import accuracy

TASKS = {"t": Task("t", 3)}


class Items(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i), float(i)]), i % 3


def seen(source, batch_size, seed):
    batches = list(source.epoch(batch_size, torch.Generator().manual_seed(seed)))
    return [int(v) for b, _ in batches for v in b.x[:, 0]], [size for _, size in batches]


def test_a_map_style_dataset_gives_every_item_once_per_epoch_shuffled_by_the_seed():
    source = SingleSource(StreamSplit(TASKS, dataset=Items(10)))
    assert source.steps_per_epoch(4) == 3 and len(source) == 10
    order, sizes = seen(source, 4, seed=0)
    assert sorted(order) == list(range(10)) and sizes == [4, 4, 2]
    assert order == seen(source, 4, seed=0)[0] and order != seen(source, 4, seed=1)[0]


def test_a_dataloader_factory_is_used_as_given():
    data = TensorDataset(torch.arange(12.0).view(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]))

    def factory(batch_size, generator):
        return DataLoader(
            data, batch_size=batch_size, shuffle=generator is not None, generator=generator
        )

    split = StreamSplit(TASKS, factory=factory)
    assert len(split) == 6 and SingleSource(split).steps_per_epoch(4) == 2
    order, _ = seen(SingleSource(split), 4, seed=3)
    assert sorted(order) == [0, 2, 4, 6, 8, 10]


def test_evaluation_reads_a_streamed_split_batch_by_batch():
    model = torch.nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # always class 0
    stream = StreamSplit(TASKS, dataset=Items(9))
    tensors = Split(torch.zeros(9, 2), {"t": torch.tensor([i % 3 for i in range(9)])})
    assert accuracy(model, stream, TASKS["t"], batch_size=4) == pytest.approx(1 / 3)
    assert accuracy(model, tensors, TASKS["t"], batch_size=4) == pytest.approx(1 / 3)


def test_joint_sources_go_round_a_smaller_streamed_split_again():
    joint = JointSource(
        {
            "big": Split(torch.zeros(8, 2), {"t": torch.zeros(8, dtype=torch.long)}),
            "small": StreamSplit(TASKS, dataset=Items(3)),
        }
    )
    batches = list(joint.epoch(2, torch.Generator().manual_seed(0)))
    assert len(batches) == 4 and all(len(b["small"]) in (1, 2) for b, _ in batches)


def test_a_streamed_item_without_a_label_per_task_is_refused():
    two = {"a": Task("a", 2), "b": Task("b", 2)}
    with pytest.raises(PowertrainError, match="a dict of labels per task"):
        next(StreamSplit(two, dataset=Items(4), where="data set x, split train").batches(2))


def test_streamed_inputs_that_are_not_tensors_are_refused():
    class Lists(Items):
        def __getitem__(self, i):
            return [float(i), float(i)], 0

    with pytest.raises(PowertrainError, match="split train: an item's input must be a tensor"):
        next(StreamSplit(TASKS, dataset=Lists(4), where="split train").batches(2))


def test_code_that_wants_a_streamed_split_as_one_tensor_is_told_why_not():
    with pytest.raises(PowertrainError, match="split test is streamed"):
        StreamSplit(TASKS, dataset=Items(3), where="split test").x  # noqa: B018
