"""A search strategy's settings, checked against the types its constructor declares: from
``--set NAME=VALUE`` and from a study's ``search:`` alike, before anything runs."""

from __future__ import annotations

import inspect
from typing import get_type_hints

from powertrain.errors import PowertrainError
from powertrain.typed import coerce


def typed_settings(name: str, cls: type, settings: dict) -> dict:
    """``settings`` for strategy ``name`` (class ``cls``), each coerced to its declared type and
    named when it does not fit (``halving setting eta: expected a number, got 'abc'``); a whole float
    is taken for a count, as ``--set finalists=3`` parses it. Unknown settings are refused, listing
    the known ones."""
    init = cls.__init__
    known = [p for p in inspect.signature(init).parameters if p not in ("self", "rng")]
    unknown = [k for k in settings if k not in known]
    if unknown:
        raise PowertrainError(
            f"strategy {name} has no setting {', '.join(unknown)}; it takes {', '.join(known) or 'none'}"
        )
    hints = get_type_hints(init)
    typed = {}
    for key, value in settings.items():
        kind = hints.get(key, float)
        if isinstance(value, float) and value.is_integer() and "int" in str(kind):
            value = int(value)
        typed[key] = coerce(value, kind, f"{name} setting {key}")
    return typed
