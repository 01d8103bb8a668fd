"""Data sets by name, or the user's own data-set function.

Built-ins register here by call; third-party packages under the entry-point group
``powertrain.datasets``; a study may instead name ``my_pkg.data:load`` or ``./data.py:load``. Every
one is a function ``load(**dataset_options) -> Dataset`` (see ``CONTRACT``), its options type-checked
against its signature before anything runs.
"""

from __future__ import annotations

from typing import Any

from powertrain.data.base import Dataset
from powertrain.errors import PowertrainError
from powertrain.registry import Registry, check_options, is_reference

DATASETS = Registry("data set", group="powertrain.datasets")
DATASETS.register("fashion-mnist", "powertrain.data.fashion_mnist:load")
DATASETS.register("mnist-5k", "powertrain.data.mnist5k:load")
DATASETS.register("digits", "powertrain.data.digits:load")
DATASETS.register("cifar10", "powertrain.data.cifar10:load")
DATASETS.register("celeba", "powertrain.data.celeba:load")
DATASETS.register("pamap2", "powertrain.data.pamap2:load")

CONTRACT = (
    "A data-set function takes its dataset_options as keyword arguments (and `seed`, if it has such "
    "a parameter: the study's fixed split seed) and returns powertrain.data.Dataset(name, input_shape, "
    "tasks, train, val, test): input_shape the shape of one input (no batch dimension), tasks "
    "{name: Task(name, num_classes)}, and each split a powertrain.data.Split(x, {task: labels}) of "
    "tensors, a map-style torch.utils.data.Dataset of (x, label) items, or a DataLoader factory "
    "(batch_size, generator) -> DataLoader."
)


def dataset_loader(name: str):
    """The function that loads data set ``name`` (a registered name or a user-code reference)."""
    return DATASETS.resolve(name, CONTRACT)


def dataset_options(name: str) -> set[str]:
    """The options a data set's loader takes (for validating study files before anything runs)."""
    from powertrain.registry import accepted_options

    return set(accepted_options(dataset_loader(name)) or ())


def check_dataset(name: str, options: dict[str, Any], at: str) -> dict[str, Any]:
    """ConfigError (its path starting with ``at``) for an unknown data set, a user function that does
    not import, or options it does not take, of the wrong type or out of range; else the options."""
    from powertrain.typed import ConfigError

    if not is_reference(name) and name not in DATASETS:
        raise ConfigError(f"{at}.dataset: {DATASETS.unknown(name)}")
    try:
        loader = dataset_loader(name)
    except PowertrainError as exc:
        raise ConfigError(f"{at}.dataset: {exc}") from None
    return check_options(loader, options, name, f"{at}.dataset_options")


def load_dataset(name: str, **options) -> Dataset:
    """Load a data set with its options checked; a user's is checked against ``CONTRACT``."""
    from powertrain.registry import accepted_options

    loader = dataset_loader(name)
    accepted = accepted_options(loader)
    if accepted is not None:
        if "seed" not in accepted:
            options.pop("seed", None)  # the split seed the runner passes, to functions without one
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise PowertrainError(
                f"data set {name!r} has no option {unknown[0]!r}; it takes {sorted(accepted)}"
            )
    options = check_options(loader, options, name, f"{name}: dataset_options")
    if not is_reference(name) and DATASETS.origin(name) == "powertrain":
        return loader(**options)
    from powertrain.data.checks import checked_dataset

    try:
        result = loader(**options)
    except PowertrainError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's function failed
        raise PowertrainError(
            f"data set {name!r} failed: {type(exc).__name__}: {exc}. {CONTRACT}"
        ) from None
    return checked_dataset(result, name, CONTRACT)
