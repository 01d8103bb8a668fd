"""Data sets by name. Adding one is adding a module with a ``load(**options) -> Dataset`` and a line here."""

from __future__ import annotations

import importlib
import inspect

from powertrain.data.base import Dataset
from powertrain.errors import PowertrainError

DATASETS = {
    "fashion-mnist": "powertrain.data.fashion_mnist",
    "mnist-5k": "powertrain.data.mnist5k",
    "digits": "powertrain.data.digits",
    "cifar10": "powertrain.data.cifar10",
    "celeba": "powertrain.data.celeba",
    "pamap2": "powertrain.data.pamap2",
}


def dataset_loader(name: str):
    if name not in DATASETS:
        raise PowertrainError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return importlib.import_module(DATASETS[name]).load


def dataset_options(name: str) -> set[str]:
    """The options a data set's loader takes (for validating study files before anything runs)."""
    return set(inspect.signature(dataset_loader(name)).parameters)


def load_dataset(name: str, **options) -> Dataset:
    loader = dataset_loader(name)
    unknown = set(options) - dataset_options(name)
    if unknown:
        raise PowertrainError(
            f"data set {name!r} has no option {sorted(unknown)[0]!r}; it takes {sorted(dataset_options(name))}"
        )
    return loader(**options)
