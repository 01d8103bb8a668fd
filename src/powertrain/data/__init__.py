"""Data sets: built-ins by name, and the types a user's data-set function returns (``Dataset``,
``Split``, ``Task``; ``from_arrays`` makes one of rows in memory), imported lazily so that importing
the package costs nothing."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Dataset": "powertrain.data.base",
    "Split": "powertrain.data.base",
    "Task": "powertrain.data.base",
    "from_arrays": "powertrain.data.base",
    "StreamSplit": "powertrain.data.stream",
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'powertrain.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
