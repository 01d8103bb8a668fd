"""Checks of a search strategy's settings, one message per bad value (shared by the strategies)."""

from __future__ import annotations

import math

from powertrain.errors import PowertrainError


def count_setting(name: str, value: float, most: int = 100) -> int:
    if not (isinstance(value, int | float) and value == int(value) and 1 <= value <= most):
        raise PowertrainError(f"{name} must be a whole number from 1 to {most}, got {value}")
    return int(value)


def above_one(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 1):
        raise PowertrainError(f"halving: {name} must be > 1, got {value}")
    return float(value)


def at_least_one(name: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 1):
        raise PowertrainError(f"{name} must be a finite number >= 1, got {value}")
    return float(value)


def axes_setting(cost_axes) -> tuple[str, ...]:
    """``cost_axes`` as names: a list, or text separated by commas (a ``--set`` value)."""
    names = cost_axes.split(",") if isinstance(cost_axes, str) else list(cost_axes or ())
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise PowertrainError(f"cost_axes takes names of setup axes, got {cost_axes!r}")
    return tuple(n.strip() for n in names)
