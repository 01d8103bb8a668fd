"""Checks what a user's (or a third-party) data-set function returned, before anything trains: the type,
the tasks, the input shape, and each split's inputs and labels against them. One PowertrainError that
says what is wrong and what the contract asks for."""

from __future__ import annotations

from typing import Any

import torch

from powertrain.data.base import Dataset, Split, Task
from powertrain.data.stream import StreamSplit, first_batch
from powertrain.errors import PowertrainError

SPLITS = ("train", "val", "test")


def checked_dataset(result: Any, name: str, contract: str) -> Dataset:
    """``result`` as a Dataset whose splits are ``Split``s or ``StreamSplit``s, or PowertrainError."""

    def fail(problem: str) -> PowertrainError:
        return PowertrainError(f"data set {name!r} {problem}. {contract}")

    if not isinstance(result, Dataset):
        raise fail(f"returned {type(result).__name__}, not a powertrain.data.Dataset")
    tasks = _checked_tasks(result.tasks, fail)
    shape = result.input_shape
    if not (
        isinstance(shape, (tuple, list))
        and shape
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        raise fail(
            f"has input_shape {shape!r}; it must be a tuple of positive sizes, e.g. (1, 28, 28)"
        )
    shape = tuple(shape)
    splits = {}
    for split_name in SPLITS:
        where = f"data set {name!r}, split {split_name}"
        split = _as_split(getattr(result, split_name), tasks, where, fail)
        if split_name != "test" and len(split) == 0:
            raise fail(f"has an empty {split_name} split")
        if len(split):
            _check_batch(first_batch(split), shape, tasks, f"split {split_name}", fail)
        splits[split_name] = split
    return Dataset(result.name or name, shape, tasks, **splits, info=result.info)


def _checked_tasks(tasks: Any, fail) -> dict[str, Task]:
    if not isinstance(tasks, dict) or not tasks:
        raise fail("has no tasks; give tasks={'class': Task('class', num_classes)}")
    for key, task in tasks.items():
        if not isinstance(task, Task) or task.name != key:
            raise fail(f"has task {key!r} that is not Task({key!r}, num_classes)")
        if isinstance(task.num_classes, bool) or not isinstance(task.num_classes, int):
            raise fail(f"has task {key!r} whose num_classes is not a whole number")
        if task.num_classes < (1 if task.multilabel else 2):
            raise fail(f"has task {key!r} with {task.num_classes} classes")
    return dict(tasks)


def _as_split(value: Any, tasks: dict[str, Task], where: str, fail) -> Split | StreamSplit:
    if isinstance(value, (Split, StreamSplit)):
        return value
    if hasattr(value, "__getitem__") and hasattr(value, "__len__"):
        return StreamSplit(tasks, dataset=value, where=where)
    if callable(value):
        return StreamSplit(tasks, factory=value, where=where)
    raise fail(
        f"gives its {where.rsplit(' ', 1)[-1]} split as {type(value).__name__}; give a Split, a "
        "map-style torch Dataset or a DataLoader factory"
    )


def _check_batch(batch: Split, shape: tuple, tasks: dict[str, Task], where: str, fail) -> None:
    """The first examples of a split against the input shape and the tasks' labels."""
    try:
        x = torch.as_tensor(batch.x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise fail(f"({where}) gives inputs that are not tensors: {exc}") from None
    if tuple(x.shape[1:]) != shape:
        raise fail(f"({where}) gives inputs of shape {tuple(x.shape[1:])}, not input_shape {shape}")
    for key, task in tasks.items():
        if key not in batch.y:
            raise fail(f"({where}) has no labels for task {key!r}")
        labels = torch.as_tensor(batch.y[key])
        if len(labels) != len(x):
            raise fail(f"({where}) has {len(labels)} labels for task {key!r} and {len(x)} inputs")
        if task.multilabel:
            if tuple(labels.shape[1:]) != (task.num_classes,):
                raise fail(
                    f"({where}) gives {key!r} labels of shape {tuple(labels.shape[1:])}, "
                    f"not ({task.num_classes},)"
                )
        elif len(labels) and (labels.min() < 0 or labels.max() >= task.num_classes):
            raise fail(
                f"({where}) has a {key!r} label outside 0 ... {task.num_classes - 1} "
                f"(num_classes {task.num_classes})"
            )
