"""One set of names in code and in JSON: an analysis object's dictionary is built from its attributes by
name (``fields_of``), so a key in summary.json is always the attribute of the same name."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """Plain JSON values: objects through their ``to_dict``, non-finite floats as None (JSON has no
    NaN), mapping keys as strings, tuples as lists."""
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def fields_of(obj: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``{name: obj.name}`` for each name, made JSON-ready."""
    return {name: jsonable(getattr(obj, name)) for name in names}
