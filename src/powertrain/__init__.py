"""powertrain: how the way a neural network is trained changes the energy it needs.

The public surface is small and imported lazily, so that ``powertrain --help`` never loads torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Component": "powertrain.meters.base",
    "Method": "powertrain.meters.base",
    "Meter": "powertrain.meters.base",
    "MeterError": "powertrain.meters.base",
    "detect_meters": "powertrain.meters.detect",
    "Monitor": "powertrain.monitor",
    "Measurement": "powertrain.monitor",
}

__all__ = [
    "Component",
    "Measurement",
    "Meter",
    "MeterError",
    "Method",
    "Monitor",
    "__version__",
    "detect_meters",
]

if TYPE_CHECKING:  # pragma: no cover
    from powertrain.meters.base import Component, Meter, MeterError, Method
    from powertrain.meters.detect import detect_meters
    from powertrain.monitor import Measurement, Monitor


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'powertrain' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
