"""Models by name, or the user's own model function.

Each takes ``(input_shape, num_outputs, **model_options)`` and returns a ``torch.nn.Module`` (see
``CONTRACT``). Built-ins register here by call; third-party packages under the entry-point group
``powertrain.models``; a study may instead name ``my_pkg.models:build`` or ``./models.py:build``.
Built-in models also have ``features``, ``feature_dim`` and ``head``, so paradigms (a frozen backbone,
one head per task) work on any of them.
"""

from __future__ import annotations

from typing import Any

from powertrain.errors import PowertrainError
from powertrain.registry import Registry, check_options, is_reference

MODELS = Registry("model", group="powertrain.models")
MODELS.register("mlp", "powertrain.models.small:MLP")
MODELS.register("small-cnn", "powertrain.models.small:SmallCNN")
MODELS.register("resnet18", "powertrain.models.resnet:ResNet18")
MODELS.register("sensor-cnn", "powertrain.models.small:SensorCNN")

CONTRACT = (
    "A model function is called as build(input_shape, num_outputs, **model_options): input_shape the "
    "shape of one input without the batch dimension, e.g. (1, 28, 28); num_outputs the task's number of "
    "classes. It returns a torch.nn.Module mapping a batch (N, *input_shape) to logits (N, num_outputs). "
    "For finetune, head-only and multitask the module also needs `features` (a batch to (N, "
    "feature_dim)), `feature_dim` and `head` (the classifier)."
)


def model_builder(name: str):
    return MODELS.resolve(name, CONTRACT)


def model_options(name: str) -> set[str]:
    from powertrain.registry import accepted_options

    return set(accepted_options(model_builder(name), positional=2) or ())


def check_model(name: str, options: dict[str, Any], at: str) -> dict[str, Any]:
    """ConfigError (its path starting with ``at``) for an unknown model, a user function that does not
    import, or options it does not take or of the wrong type; else the options."""
    from powertrain.typed import ConfigError

    if not is_reference(name) and name not in MODELS:
        raise ConfigError(f"{at}.model: {MODELS.unknown(name)}")
    try:
        builder = model_builder(name)
    except PowertrainError as exc:
        raise ConfigError(f"{at}.model: {exc}") from None
    return check_options(builder, options, name, f"{at}.model_options", positional=2)


def build_model(name: str, input_shape: tuple[int, ...], num_outputs: int, **options):
    from torch import nn

    from powertrain.registry import accepted_options

    builder = model_builder(name)
    accepted = accepted_options(builder, positional=2)
    unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
    if unknown:
        raise PowertrainError(
            f"model {name!r} has no option {unknown[0]!r}; it takes {sorted(accepted)}"
        )
    options = check_options(builder, options, name, f"{name}: model_options", positional=2)
    if is_builtin(name):
        return builder(input_shape, num_outputs, **options)
    try:
        model = builder(tuple(input_shape), num_outputs, **options)
    except PowertrainError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's function failed
        raise PowertrainError(
            f"model {name!r} failed to build: {type(exc).__name__}: {exc}. {CONTRACT}"
        ) from None
    if not isinstance(model, nn.Module):
        raise PowertrainError(
            f"model {name!r} returned {type(model).__name__}, not a torch.nn.Module. {CONTRACT}"
        )
    return model


def is_builtin(name: str) -> bool:
    return not is_reference(name) and MODELS.origin(name) == "powertrain"


def check_user_model(name: str, options: dict[str, Any], tasks: dict) -> None:
    """Before a study trains: a model that is not a built-in is built and probed with one batch of
    every task's training data (``tasks``: name -> TaskData with ``dataset`` and ``task``)."""
    if is_builtin(name):
        return
    for td in tasks.values():
        probe_model(name, options, td.dataset, td.task)


def probe_model(name: str, options: dict[str, Any], dataset, task) -> None:
    """Build the model for ``task`` of ``dataset`` and run one batch of its training data through it:
    PowertrainError, before any training, when that fails or the output is not (batch, classes)."""
    import torch

    from powertrain.data.stream import first_batch

    model = build_model(name, dataset.input_shape, task.num_classes, **options)
    batch = first_batch(dataset.train)
    shape = f"{len(batch)} inputs of shape {tuple(batch.x.shape[1:])}"
    try:
        model.to(batch.x.device).eval()
        with torch.no_grad():
            output = model(batch.x)
    except Exception as exc:  # noqa: BLE001 - the user's model failed on real data
        raise PowertrainError(
            f"model {name!r} fails on a batch of {shape}: {type(exc).__name__}: {exc}. {CONTRACT}"
        ) from None
    want = (len(batch), task.num_classes)
    got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
    if got != want:
        raise PowertrainError(
            f"model {name!r} gives outputs {got} for a batch of {shape}, but task {task.name!r} has "
            f"{task.num_classes} classes: expected {want}. {CONTRACT}"
        )
