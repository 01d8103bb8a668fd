"""A user's model and data-set files, as a study names them (``./models.py:build``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

MODELS = '''
from torch import nn


def build(input_shape, num_outputs, hidden: int = 16):
    """A small MLP: what a user's model function looks like."""
    width = 1
    for size in input_shape:
        width *= size
    return nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs))


def wrong_outputs(input_shape, num_outputs):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_outputs + 1))


def not_a_module(input_shape, num_outputs):
    return "a string"
'''

DATA = '''
import torch
from torch.utils.data import Dataset as TorchDataset

from powertrain.data import Dataset, Split, Task


def _blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 4, 4, generator=g) * 0.3 + y.view(-1, 1, 1, 1).float()
    return x, y


def load(size: int = 240, seed: int = 0):
    """Tensors in memory."""
    splits = [Split(x, {"blob": y}) for x, y in (_blobs(size, seed), _blobs(60, 1), _blobs(60, 2))]
    return Dataset("blobs", (1, 4, 4), {"blob": Task("blob", 3)}, *splits)


class Blobs(TorchDataset):
    """Map-style: each item built on demand from plain Python lists, never one tensor."""

    def __init__(self, n, seed):
        x, y = _blobs(n, seed)
        self.items = [(row.tolist(), int(label)) for row, label in zip(x, y)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        rows, label = self.items[i]
        return torch.tensor(rows), label


def streamed(size: int = 240):
    return Dataset("blobs", (1, 4, 4), {"blob": Task("blob", 3)}, Blobs(size, 0), Blobs(60, 1), Blobs(60, 2))


def wrong_shape():
    x, y = _blobs(20, 0)
    s = Split(x, {"blob": y})
    return Dataset("blobs", (1, 8, 8), {"blob": Task("blob", 3)}, s, s, s)


def a_tuple():
    return _blobs(20, 0)


def bad_labels():
    x, y = _blobs(20, 0)
    s = Split(x, {"blob": y + 5})
    return Dataset("blobs", (1, 4, 4), {"blob": Task("blob", 3)}, s, s, s)
'''


def write_user_code(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.py").write_text(textwrap.dedent(MODELS))
    (folder / "data.py").write_text(textwrap.dedent(DATA))
    return folder


def user_study(**task) -> dict:
    return {
        "name": "mine",
        "task": {
            "dataset": "./data.py:load",
            "model": "./models.py:build",
            "target_accuracy": 0.9,
            "evals_per_epoch": 2,
            "max_epochs": 5,
            **task,
        },
        "grid": {"learning_rate": [0.1]},
        "train": {"batch_size": 16},
        "seeds": [0],
        "meters": {"backends": ["estimate"], "record_timeline": False},
    }
