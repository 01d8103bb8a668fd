"""Models by name. Each takes (input_shape, num_outputs, **options) and has ``features`` and ``head``,
so paradigms (a frozen backbone, one head per task) work on any of them."""

from __future__ import annotations

import inspect

from torch import nn

from powertrain.errors import PowertrainError
from powertrain.models.resnet import ResNet18
from powertrain.models.small import MLP, SensorCNN, SmallCNN

MODELS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "small-cnn": SmallCNN,
    "resnet18": ResNet18,
    "sensor-cnn": SensorCNN,
}


def model_options(name: str) -> set[str]:
    if name not in MODELS:
        raise PowertrainError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return set(inspect.signature(MODELS[name]).parameters) - {"input_shape", "num_outputs"}


def build_model(name: str, input_shape: tuple[int, ...], num_outputs: int, **options) -> nn.Module:
    unknown = set(options) - model_options(name)
    if unknown:
        raise PowertrainError(
            f"model {name!r} has no option {sorted(unknown)[0]!r}; it takes {sorted(model_options(name))}"
        )
    if "hidden" in options and isinstance(options["hidden"], list):
        options["hidden"] = tuple(options["hidden"])
    return MODELS[name](input_shape, num_outputs, **options)
