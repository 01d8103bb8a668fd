"""Builds frozen dataclasses from plain data (parsed YAML), checking keys and types.

Every error names the key's path (``task.target_accuracy``) and says what was expected, so a study file
is rejected before anything trains.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from powertrain.errors import ConfigError

__all__ = ["ConfigError", "build", "check", "coerce"]


#: Whole numbers are stored in SQLite, whose integers are 64-bit.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: More torch threads than this per CPU thread only slows a run down (and 100,000 crash it).
MAX_THREADS_PER_CPU = 4


def build(cls: type, data: Any, path: str) -> Any:
    """An instance of dataclass ``cls`` from a mapping, or ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'the file'}: expected a mapping of keys, got {_show(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"{_join(path, key)}: unknown key; expected one of {', '.join(fields)}"
            )
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = coerce(data[name], hints[name], _join(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_join(path, name)}: missing; this key is required")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def coerce(value: Any, annotation: Any, path: str) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(
            errors[0]
            if len(errors) == 1
            else f"{path}: {_show(value)} fits none of the allowed types"
        )
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{path}: expected one of {', '.join(map(repr, args))}, got {_show(value)}"
            )
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        inner = args[0] if args else Any
        return [coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_show(value)}")
        inner = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, inner, _join(path, str(k))) for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        return build(annotation, value, path)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_show(value)}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected a whole number, got {_show(value)}")
        if not INT_MIN <= value <= INT_MAX:
            raise ConfigError(f"{path}: {_show(value)} is too large; whole numbers fit in 64 bits")
        return value
    if annotation is float:
        return _finite(value, path)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected text, got {_show(value)}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} at {path}")  # a bug in powertrain


def _finite(value: Any, path: str) -> float:
    """A finite float: YAML's .nan and .inf, and numbers too large for a float, are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: expected a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{path}: expected a finite number, got {_show(value)}")
    return number


def check_threads(threads: int | None, path: str = "threads") -> None:
    """Torch CPU threads: positive and at most MAX_THREADS_PER_CPU per CPU thread of this machine."""
    if threads is None:
        return
    cpus = os.cpu_count() or 1
    check(threads > 0, path, f"must be positive, got {threads}")
    check(
        threads <= MAX_THREADS_PER_CPU * cpus,
        path,
        f"at most {MAX_THREADS_PER_CPU * cpus} ({MAX_THREADS_PER_CPU} per CPU thread; this machine "
        f"has {cpus}), got {threads}",
    )


def check_study_limits(study: Any) -> None:
    """Bounds the generic checks cannot know: those of this machine, and the meters' watts."""
    check_threads(getattr(study, "threads", None))
    tdp_w = getattr(getattr(study, "meters", None), "cpu_tdp_w", None)
    check(tdp_w is None or tdp_w > 0, "meters.cpu_tdp_w", f"must be positive (W), got {tdp_w}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def check(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{path}: {message}")
